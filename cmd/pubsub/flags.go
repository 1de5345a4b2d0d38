package main

import (
	"net"
	"strings"

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
	maxRetained := s.Int("max-retained-messages", "PUBSUB_MAX_RETAINED_MESSAGES", d.MaxRetainedMessages, "retained messages each broker may keep; more are refused with 0x97 / HTTP 507")
	maxRetainedBytes := s.Int64("max-retained-bytes", "PUBSUB_MAX_RETAINED_BYTES", d.MaxRetainedBytes, "bytes of retained messages (topic, payload, properties) each broker may keep")
	maxPacket := s.Uint32("max-packet-size", "PUBSUB_MAX_PACKET_SIZE", d.MaxPacketSize, "largest MQTT packet a client may send, in bytes")
	connectTimeout := s.Duration("connect-timeout", "PUBSUB_CONNECT_TIMEOUT", d.ConnectTimeout, "a client must send CONNECT within this time")
	minKA := s.Uint16("min-keepalive", "PUBSUB_MIN_KEEPALIVE", d.MinKeepAlive, "smallest keep-alive granted, in seconds")
	maxKA := s.Uint16("max-keepalive", "PUBSUB_MAX_KEEPALIVE", d.MaxKeepAlive, "largest keep-alive granted, in seconds")
	rate := s.Float64("message-rate", "PUBSUB_MESSAGE_RATE", 0, "PUBLISH packets per second allowed per MQTT connection, and HTTP publishes per token; 0 for no limit")
	sessionExpiry := s.Duration("max-session-expiry", "PUBSUB_MAX_SESSION_EXPIRY", d.MaxSessionExpiry, "cap on the session expiry a client asks for")
	maxLevels := s.Int("max-topic-levels", "PUBSUB_MAX_TOPIC_LEVELS", d.MaxTopicLevels, "most levels a topic name or filter may have")
	maxSubs := s.Int("max-subscriptions", "PUBSUB_MAX_SUBSCRIPTIONS", d.MaxSubscriptions, "most subscriptions one MQTT session may hold; more are refused with SUBACK 0x97")
	writeTimeout := s.Duration("write-timeout", "PUBSUB_WRITE_TIMEOUT", d.WriteTimeout, "a client whose socket stays unwritable this long (it reads nothing) is disconnected as a slow consumer")
	tokenCache := s.Int("token-cache", "PUBSUB_TOKEN_CACHE", d.TokenCache, "verified tokens remembered so that reconnects skip the signature check; negative disables")
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
	maxTopics := s.Int("sse-max-topics", "PUBSUB_SSE_MAX_TOPICS", d.MaxTopics, "most distinct topics one SSE request may name")
	replayCount := s.Int("sse-replay-count", "PUBSUB_SSE_REPLAY_COUNT", d.ReplayCount, "messages each topic filter keeps for SSE clients that reconnect; -1 for none")
	replayAge := s.Duration("sse-replay-age", "PUBSUB_SSE_REPLAY_AGE", d.ReplayAge, "how long those messages are kept, and a filter nobody streams stays subscribed")
	keepAlive := s.Duration("sse-keepalive", "PUBSUB_SSE_KEEPALIVE", d.KeepAlive, "an idle SSE stream sends a comment this often")
	queue := s.Int("sse-client-queue", "PUBSUB_SSE_CLIENT_QUEUE", d.ClientQueue, "events an SSE client may fall behind before it is disconnected")
	origins := s.Addrs("allowed-origin", "PUBSUB_ALLOWED_ORIGINS", "", "origin allowed to call the edge from a browser, repeatable; none allows every origin")
	return func() edge.Config {
		return edge.Config{
			MaxTopics: *maxTopics, ReplayCount: *replayCount, ReplayAge: *replayAge, KeepAlive: *keepAlive,
			ClientQueue: *queue, Origins: *origins,
		}
	}
}
