package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/broker/onpublish"
)

// addrList is a repeatable address flag with a default list that the first
// explicit value replaces.
type addrList struct {
	vals []string
	set  bool
}

func (a *addrList) String() string { return strings.Join(a.vals, ",") }

func (a *addrList) Set(v string) error {
	if !a.set {
		a.vals, a.set = nil, true
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			a.vals = append(a.vals, p)
		}
	}
	return nil
}

func (a *addrList) list() []string { return a.vals }

// addrListFlag adds a repeatable address flag, defaulting to the
// environment variable (comma-separated) or def.
func addrListFlag(fs *flag.FlagSet, name, env, def, usage string) *addrList {
	a := &addrList{}
	_ = a.Set(envOr(env, def))
	a.set = false
	fs.Var(a, name, usage+" ("+env+")")
	return a
}

func addrString(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// limitFlags adds the per-client limits of a broker node.
func limitFlags(fs *flag.FlagSet) func() node.Limits {
	d := node.DefaultLimits()
	maxRetained := fs.Int("max-retained-messages", envInt("PUBSUB_MAX_RETAINED_MESSAGES", d.MaxRetainedMessages), "retained messages each broker may keep; more are refused with 0x97 / HTTP 507 (PUBSUB_MAX_RETAINED_MESSAGES)")
	maxRetainedBytes := fs.Int64("max-retained-bytes", int64(envInt("PUBSUB_MAX_RETAINED_BYTES", int(d.MaxRetainedBytes))), "bytes of retained messages (topic, payload, properties) each broker may keep (PUBSUB_MAX_RETAINED_BYTES)")
	maxPacket := fs.Uint("max-packet-size", uint(envInt("PUBSUB_MAX_PACKET_SIZE", int(d.MaxPacketSize))), "largest MQTT packet a client may send, in bytes (PUBSUB_MAX_PACKET_SIZE)")
	connectTimeout := fs.Duration("connect-timeout", d.ConnectTimeout, "a client must send CONNECT within this time")
	minKA := fs.Uint("min-keepalive", uint(d.MinKeepAlive), "smallest keep-alive granted, in seconds")
	maxKA := fs.Uint("max-keepalive", uint(d.MaxKeepAlive), "largest keep-alive granted, in seconds")
	rate := fs.Float64("message-rate", 0, "PUBLISH packets per second allowed per MQTT connection, and HTTP publishes per token; 0 for no limit")
	sessionExpiry := fs.Duration("max-session-expiry", d.MaxSessionExpiry, "cap on the session expiry a client asks for")
	maxLevels := fs.Int("max-topic-levels", envInt("PUBSUB_MAX_TOPIC_LEVELS", d.MaxTopicLevels), "most levels a topic name or filter may have (PUBSUB_MAX_TOPIC_LEVELS)")
	maxSubs := fs.Int("max-subscriptions", envInt("PUBSUB_MAX_SUBSCRIPTIONS", d.MaxSubscriptions), "most subscriptions one MQTT session may hold; more are refused with SUBACK 0x97 (PUBSUB_MAX_SUBSCRIPTIONS)")
	writeTimeout := fs.Duration("write-timeout", envDuration("PUBSUB_WRITE_TIMEOUT", d.WriteTimeout), "a client whose socket stays unwritable this long (it reads nothing) is disconnected as a slow consumer (PUBSUB_WRITE_TIMEOUT)")
	tokenCache := fs.Int("token-cache", envInt("PUBSUB_TOKEN_CACHE", d.TokenCache), "verified tokens remembered so that reconnects skip the signature check; negative disables (PUBSUB_TOKEN_CACHE)")
	return func() node.Limits {
		return node.Limits{
			TokenCache:          *tokenCache,
			MaxRetainedMessages: *maxRetained, MaxRetainedBytes: *maxRetainedBytes,
			MaxPacketSize: uint32(*maxPacket), ConnectTimeout: *connectTimeout,
			MinKeepAlive: uint16(*minKA), MaxKeepAlive: uint16(*maxKA),
			MessageRate: *rate, MaxSessionExpiry: *sessionExpiry,
			MaxTopicLevels: *maxLevels, MaxSubscriptions: *maxSubs,
			WriteTimeout: *writeTimeout,
		}
	}
}

// envDuration returns the duration in the environment variable name, or
// def when it is unset or not a duration.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

// edgeFlags adds the settings of the HTTP edge (SSE, HTTP publish,
// WebSocket).
func edgeFlags(fs *flag.FlagSet) func() edge.Config {
	d := edge.DefaultConfig()
	maxTopics := fs.Int("sse-max-topics", envInt("PUBSUB_SSE_MAX_TOPICS", d.MaxTopics), "most distinct topics one SSE request may name (PUBSUB_SSE_MAX_TOPICS)")
	replayCount := fs.Int("sse-replay-count", envInt("PUBSUB_SSE_REPLAY_COUNT", d.ReplayCount), "messages each topic filter keeps for SSE clients that reconnect; -1 for none (PUBSUB_SSE_REPLAY_COUNT)")
	replayAge := fs.Duration("sse-replay-age", d.ReplayAge, "how long those messages are kept, and a filter nobody streams stays subscribed")
	keepAlive := fs.Duration("sse-keepalive", d.KeepAlive, "an idle SSE stream sends a comment this often")
	queue := fs.Int("sse-client-queue", d.ClientQueue, "events an SSE client may fall behind before it is disconnected")
	origins := addrListFlag(fs, "allowed-origin", "PUBSUB_ALLOWED_ORIGINS", "", "origin allowed to call the edge from a browser, repeatable; none allows every origin")
	return func() edge.Config {
		return edge.Config{
			MaxTopics: *maxTopics, ReplayCount: *replayCount, ReplayAge: *replayAge, KeepAlive: *keepAlive,
			ClientQueue: *queue, Origins: origins.list(),
		}
	}
}

// hookFlags registers the flags of the brokers' on-publish hooks;
// allowHTTP is --hook-allow-http's default (on in pubsub dev).
func hookFlags(fs *flag.FlagSet, allowHTTP bool) func() (node.HookConfig, error) {
	if v := os.Getenv("PUBSUB_HOOK_ALLOW_HTTP"); v != "" {
		allowHTTP = v == "1" || strings.EqualFold(v, "true")
	}
	allow := fs.Bool("hook-allow-http", allowHTTP, "allow http:// on-publish hook URLs that resolve to loopback or private addresses; https:// is always allowed (PUBSUB_HOOK_ALLOW_HTTP)")
	caFile := fs.String("hook-ca", envOr("PUBSUB_HOOK_CA", ""), "PEM file of CA certificates that https:// hooks may also chain to, besides the system's roots (PUBSUB_HOOK_CA)")
	inFlight := fs.Int("hook-max-inflight", envInt("PUBSUB_HOOK_MAX_INFLIGHT", onpublish.DefaultMaxInFlight), "on-publish hook requests in flight per broker; beyond, the broker's publishers wait (PUBSUB_HOOK_MAX_INFLIGHT)")
	batch := fs.Int("hook-max-batch", envInt("PUBSUB_HOOK_MAX_BATCH", onpublish.DefaultMaxBatch), "most messages in one on-publish hook request (PUBSUB_HOOK_MAX_BATCH)")
	return func() (node.HookConfig, error) {
		cfg := node.HookConfig{AllowHTTP: *allow, MaxInFlight: *inFlight, MaxBatch: *batch}
		if *inFlight < 1 || *batch < 1 {
			return cfg, usageError{"--hook-max-inflight and --hook-max-batch must be at least 1"}
		}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return cfg, fmt.Errorf("--hook-ca: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("--hook-ca: %s holds no PEM certificate", *caFile)
			}
			cfg.RootCAs = pool
		}
		return cfg, nil
	}
}

// natsFlags adds the settings of a node's link to its fleet over NATS;
// the returned function gives nil without --nats-url.
func natsFlags(fs *flag.FlagSet) func() *natsbus.Config {
	url := fs.String("nats-url", envOr("PUBSUB_NATS_URL", ""), "NATS servers of the fleet, comma-separated (nats://h1:4222,nats://h2:4222); empty runs the node alone (PUBSUB_NATS_URL)")
	creds := fs.String("nats-creds", envOr("PUBSUB_NATS_CREDS", ""), "NATS credentials file (user JWT and NKey seed) (PUBSUB_NATS_CREDS)")
	ca := fs.String("nats-ca", envOr("PUBSUB_NATS_CA", ""), "PEM file of the CA that signed the NATS servers' certificates, for tls:// URLs (PUBSUB_NATS_CA)")
	nodeID := fs.String("nats-node-id", envOr("PUBSUB_NATS_NODE_ID", ""), "this node's id on the bus, unique in the fleet; default a random id per start (PUBSUB_NATS_NODE_ID)")
	recvBuf := fs.Int("nats-receive-buffer", envInt("PUBSUB_NATS_RECEIVE_BUFFER", 8192), "messages from other nodes one broker may have waiting for delivery here; past it they are dropped and counted (PUBSUB_NATS_RECEIVE_BUFFER)")
	replicas := fs.Int("nats-replicas", envInt("PUBSUB_NATS_REPLICAS", 0), "replication of the retained messages in JetStream; 0 for 3 with three NATS servers or more, else 1 (PUBSUB_NATS_REPLICAS)")
	reconnBuf := fs.Int("nats-reconnect-buffer", envInt("PUBSUB_NATS_RECONNECT_BUFFER", 8<<20), "bytes of messages held for the other nodes while NATS reconnects; past it they reach this node only, counted (PUBSUB_NATS_RECONNECT_BUFFER)")
	return func() *natsbus.Config {
		if *url == "" {
			return nil
		}
		return &natsbus.Config{URL: *url, CredsFile: *creds, CAFile: *ca, NodeID: *nodeID, ReceiveBuffer: *recvBuf, ReconnectBuffer: *reconnBuf, RetainedReplicas: *replicas}
	}
}
