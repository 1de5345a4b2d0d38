package main

import (
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/node"
)

// newSettings defines flags on fs.
func newSettings(fs *pflag.FlagSet) *settings {
	return &settings{register: func(v flagValue, name, usage string) {
		fs.Var(v, name, usage)
		if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			fs.Lookup(name).NoOptDefVal = "true"
		}
	}}
}

func addrString(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// limitFlags adds the per-client limits of a broker node.
func limitFlags(s *settings) func() node.Limits {
	d := node.DefaultLimits()
	maxRetained := s.IntRange("max-retained-messages", "PUBSUB_MAX_RETAINED_MESSAGES", d.MaxRetainedMessages, 1, 10_000_000, "retained messages each broker may keep; more are refused with 0x97 / HTTP 507")
	maxRetainedBytes := s.Int64Range("max-retained-bytes", "PUBSUB_MAX_RETAINED_BYTES", d.MaxRetainedBytes, 1024, 1<<40, "bytes of retained messages (topic, payload, properties) each broker may keep")
	maxPacket := s.Uint32Range("max-packet-size", "PUBSUB_MAX_PACKET_SIZE", d.MaxPacketSize, 128, 268_435_455, "largest MQTT packet a client may send, in bytes")
	connectTimeout := s.DurationRange("connect-timeout", "PUBSUB_CONNECT_TIMEOUT", d.ConnectTimeout, 100*time.Millisecond, 10*time.Minute, "a client must send CONNECT within this time")
	minKA := s.Uint16("min-keepalive", "PUBSUB_MIN_KEEPALIVE", d.MinKeepAlive, "smallest keep-alive granted, in seconds")
	maxKA := s.Uint16("max-keepalive", "PUBSUB_MAX_KEEPALIVE", d.MaxKeepAlive, "largest keep-alive granted, in seconds")
	rate := s.Float64Range("message-rate", "PUBSUB_MESSAGE_RATE", 0, 0, 1e9, "PUBLISH packets per second allowed per MQTT connection, and HTTP publishes per token; 0 for no limit")
	sessionExpiry := s.DurationRange("max-session-expiry", "PUBSUB_MAX_SESSION_EXPIRY", d.MaxSessionExpiry, time.Second, (1<<32-1)*time.Second, "cap on the session expiry a client asks for")
	maxLevels := s.IntRange("max-topic-levels", "PUBSUB_MAX_TOPIC_LEVELS", d.MaxTopicLevels, 1, 65_535, "most levels a topic name or filter may have")
	maxSubs := s.IntRange("max-subscriptions", "PUBSUB_MAX_SUBSCRIPTIONS", d.MaxSubscriptions, 1, 1_000_000, "most subscriptions one MQTT session may hold; more are refused with SUBACK 0x97")
	writeTimeout := s.DurationRange("write-timeout", "PUBSUB_WRITE_TIMEOUT", d.WriteTimeout, 100*time.Millisecond, time.Hour, "a client whose socket stays unwritable this long (it reads nothing) is disconnected as a slow consumer")
	tokenCache := s.IntRange("token-cache", "PUBSUB_TOKEN_CACHE", d.TokenCache, -1, 10_000_000, "verified tokens remembered so that reconnects skip the signature check; negative disables")
	return func() node.Limits {
		return node.Limits{
			TokenCache:          *tokenCache,
			MaxRetainedMessages: *maxRetained, MaxRetainedBytes: *maxRetainedBytes,
			MaxPacketSize: *maxPacket, ConnectTimeout: *connectTimeout,
			MinKeepAlive: *minKA, MaxKeepAlive: *maxKA,
			MessageRate: *rate, MaxSessionExpiry: *sessionExpiry,
			MaxTopicLevels: *maxLevels, MaxSubscriptions: *maxSubs,
			WriteTimeout: *writeTimeout,
		}
	}
}

// edgeFlags adds the settings of the HTTP edge (SSE, HTTP publish,
// WebSocket).
func edgeFlags(s *settings) func() edge.Config {
	d := edge.DefaultConfig()
	maxTopics := s.IntRange("sse-max-topics", "PUBSUB_SSE_MAX_TOPICS", d.MaxTopics, 1, 1000, "most distinct topics one SSE request may name")
	replayCount := s.IntRange("sse-replay-count", "PUBSUB_SSE_REPLAY_COUNT", d.ReplayCount, -1, 100_000, "messages each topic filter keeps for SSE clients that reconnect; -1 for none")
	replayAge := s.DurationRange("sse-replay-age", "PUBSUB_SSE_REPLAY_AGE", d.ReplayAge, time.Second, 24*time.Hour, "how long those messages are kept, and a filter nobody streams stays subscribed")
	keepAlive := s.DurationRange("sse-keepalive", "PUBSUB_SSE_KEEPALIVE", d.KeepAlive, time.Second, time.Hour, "an idle SSE stream sends a comment this often")
	queue := s.IntRange("sse-client-queue", "PUBSUB_SSE_CLIENT_QUEUE", d.ClientQueue, 1, 1_000_000, "events an SSE client may fall behind before it is disconnected")
	origins := s.Addrs("allowed-origin", "PUBSUB_ALLOWED_ORIGINS", "", "origin allowed to call the edge from a browser, repeatable; none allows every origin")
	return func() edge.Config {
		return edge.Config{
			MaxTopics: *maxTopics, ReplayCount: *replayCount, ReplayAge: *replayAge, KeepAlive: *keepAlive,
			ClientQueue: *queue, Origins: *origins,
		}
	}
}
