package main

import (
	"context"
	"strings"
	"testing"
)

// TestNodeFlagRanges refuses, before the node starts, every limit outside
// the range the node can honour, by flag and by environment variable, with
// a message that names the flag or variable, the value and the range.
func TestNodeFlagRanges(t *testing.T) {
	cases := []struct{ flag, env, value, want string }{
		{"clients-interval", "PUBSUB_CLIENTS_INTERVAL", "1ms", "out of range (10ms to 10m0s)"},
		{"clients-interval", "PUBSUB_CLIENTS_INTERVAL", "11m", "out of range (10ms to 10m0s)"},
		{"max-retained-messages", "PUBSUB_MAX_RETAINED_MESSAGES", "0", "out of range (1 to 10000000)"},
		{"max-retained-bytes", "PUBSUB_MAX_RETAINED_BYTES", "-1", "out of range (1024 to 1099511627776)"},
		{"max-packet-size", "PUBSUB_MAX_PACKET_SIZE", "100", "out of range (128 to 268435455)"},
		{"connect-timeout", "PUBSUB_CONNECT_TIMEOUT", "0s", "out of range (100ms to 10m0s)"},
		{"message-rate", "PUBSUB_MESSAGE_RATE", "-5", "out of range (0 to 1e+09)"},
		{"message-rate", "PUBSUB_MESSAGE_RATE", "NaN", "not a number"},
		{"max-session-expiry", "PUBSUB_MAX_SESSION_EXPIRY", "2000000h", "out of range (1s to 1193046h28m15s)"},
		{"max-topic-levels", "PUBSUB_MAX_TOPIC_LEVELS", "0", "out of range (1 to 65535)"},
		{"max-subscriptions", "PUBSUB_MAX_SUBSCRIPTIONS", "-3", "out of range (1 to 1000000)"},
		{"write-timeout", "PUBSUB_WRITE_TIMEOUT", "-1s", "out of range (100ms to 1h0m0s)"},
		{"token-cache", "PUBSUB_TOKEN_CACHE", "-2", "out of range (-1 to 10000000)"},
		{"sse-max-topics", "PUBSUB_SSE_MAX_TOPICS", "0", "out of range (1 to 1000)"},
		{"sse-replay-count", "PUBSUB_SSE_REPLAY_COUNT", "-2", "out of range (-1 to 100000)"},
		{"sse-replay-age", "PUBSUB_SSE_REPLAY_AGE", "48h", "out of range (1s to 24h0m0s)"},
		{"sse-keepalive", "PUBSUB_SSE_KEEPALIVE", "10ms", "out of range (1s to 1h0m0s)"},
		{"sse-client-queue", "PUBSUB_SSE_CLIENT_QUEUE", "0", "out of range (1 to 1000000)"},
		{"hook-max-inflight", "PUBSUB_HOOK_MAX_INFLIGHT", "0", "out of range (1 to 1024)"},
		{"hook-max-batch", "PUBSUB_HOOK_MAX_BATCH", "20000", "out of range (1 to 10000)"},
		{"nats-receive-buffer", "PUBSUB_NATS_RECEIVE_BUFFER", "0", "out of range (1 to 10000000)"},
		{"nats-replicas", "PUBSUB_NATS_REPLICAS", "7", "out of range (0 to 5)"},
		{"nats-reconnect-buffer", "PUBSUB_NATS_RECONNECT_BUFFER", "10", "out of range (1024 to 1073741824)"},
	}
	serve := []string{"broker", "serve", "--control-plane", "http://127.0.0.1:1", "--node-token", "psn_x", "--cert-dir", t.TempDir()}
	for _, c := range cases {
		t.Run(c.flag+"="+c.value, func(t *testing.T) {
			_, _, err := cli(t, context.Background(), append(serve, "--"+c.flag, c.value)...)
			if code := exitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), `"`+c.value+`" for "--`+c.flag+`"`) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("flag: exit %d, %v; want 2 and %q", exitCode(err), err, c.want)
			}
			t.Setenv(c.env, c.value)
			_, _, err = cli(t, context.Background(), serve...)
			if code := exitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), c.env+`="`+c.value+`"`) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("variable: exit %d, %v; want 2 and %q", exitCode(err), err, c.want)
			}
		})
	}
}
