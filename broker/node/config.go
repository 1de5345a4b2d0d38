package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/natsbus"
)

// CertSource provides the TLS certificate for a connection, as
// tls.Config.GetCertificate does. broker/certs implements it; the node
// asks it only for hostnames of brokers in its State, and for connections
// without SNI.
type CertSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// Config configures a Node. The zero value of each field means its
// default; New validates it.
type Config struct {
	// MQTTAddrs are the TCP addresses of the MQTT over TLS listeners.
	// Default: ":8883" and ":8443".
	MQTTAddrs []string
	// HTTPSAddrs are the TCP addresses of the HTTPS listeners of the edge
	// (SSE, HTTP publish, MQTT over WebSocket). Default: ":8884". Every
	// listener tells MQTT from HTTP after the TLS handshake, so each port
	// answers both; these are the ones documented for HTTPS.
	HTTPSAddrs []string
	// DataDir holds the node's durable state: the retained messages of
	// its brokers. Empty keeps them in memory only, lost on restart.
	DataDir string
	// RetainedStore, when set, replaces the store in DataDir (a store
	// shared by several nodes, or a test's).
	RetainedStore broker.RetainedStore
	// Edge configures SSE, HTTP publish and WebSocket; its MaxPacketSize,
	// TokenLeeway and Logger come from this Config.
	Edge edge.Config
	// OpsAddr is the plain-HTTP address of /metrics, /healthz and
	// /readyz. Keep it private. Default: "127.0.0.1:9090".
	OpsAddr string
	// Certs provides the TLS certificates. Required.
	Certs CertSource
	// Logger receives the node's structured logs, which never contain a
	// token. Default: slog.Default().
	Logger *slog.Logger
	// Limits are the per-client limits.
	Limits Limits
	// Hooks configures the brokers' on-publish hooks (onpublish.go).
	Hooks HookConfig
	// NATS, when set, makes the node one node of a fleet: every broker's
	// messages cross to the other nodes connected to the same NATS
	// cluster (see fleet.go). Nil runs the node alone.
	NATS *natsbus.Config
}

// Limits are the per-client protocol limits of a node. A zero field takes
// its default, listed in DefaultLimits.
type Limits struct {
	// MaxPacketSize is the largest packet a client may send, in bytes,
	// fixed header included; larger ones end the connection with
	// DISCONNECT 0x95. It is advertised in CONNACK.
	MaxPacketSize uint32
	// ConnectTimeout bounds the TLS handshake plus the CONNECT packet.
	ConnectTimeout time.Duration
	// MinKeepAlive and MaxKeepAlive clamp the keep-alive a client asks
	// for, in seconds; a client asking for none gets MaxKeepAlive. The
	// value used is returned as Server Keep Alive in CONNACK.
	MinKeepAlive, MaxKeepAlive uint16
	// MessageRate, when positive, limits each client to this many PUBLISH
	// packets per second on average, with bursts of MessageBurst;
	// exceeding it ends the connection with DISCONNECT 0x96. The HTTP
	// edge applies the same rate to each token's HTTP publishes (429).
	MessageRate float64
	// MessageBurst is the burst allowed above MessageRate. Default: the
	// rate rounded up, at least 1.
	MessageBurst int
	// MaxSessionExpiry caps the session expiry interval a client asks for.
	MaxSessionExpiry time.Duration
	// TokenLeeway tolerates clock skew between the control plane, which
	// stamps iat and exp, and this node.
	TokenLeeway time.Duration
	// TopicAliasMaximum is the number of topic aliases a client may use
	// per connection, advertised in CONNACK.
	TopicAliasMaximum uint16
	// ReceiveMaximum is how many QoS 1 and 2 publishes a client may have
	// unacknowledged at once, advertised in CONNACK.
	ReceiveMaximum uint16
	// MaxInflight bounds the QoS 1 and 2 messages held for one client,
	// connected or not; each can be MaxPacketSize, so this is the bound
	// on an offline session's memory.
	MaxInflight uint16
	// MaxTopicLevels is the most levels a topic name or filter may have
	// (a shared subscription's counted from its inner filter): a PUBLISH
	// over it is answered with PUBACK or PUBREC 0x90 (QoS 0: DISCONNECT
	// 0x90), a SUBSCRIBE filter with SUBACK 0x8F, a will topic with
	// CONNACK 0x90, and the HTTP edge answers 400. Matching costs work
	// per level.
	MaxTopicLevels int
	// MaxSubscriptions is the most subscriptions one session may hold;
	// a SUBSCRIBE filter beyond it is refused with SUBACK 0x97 (Quota
	// exceeded). Each costs memory for the session's life, offline too.
	MaxSubscriptions int
	// MaxWritesPending bounds the deliveries queued for one client before
	// further QoS 0 ones are dropped. Each client holds a queue of this
	// many pointers, so keep it modest for many connections.
	MaxWritesPending int32
	// MaxMessageExpiry, when positive, caps how long a message (retained
	// or queued for an offline session) lives; zero keeps messages until
	// their own Message Expiry Interval, if any.
	MaxMessageExpiry time.Duration
	// MaxRetainedMessages and MaxRetainedBytes cap each broker's retained
	// messages (bytes: topic, payload and properties). A retained
	// publish past either is refused with PUBACK or PUBREC 0x97 (a QoS 0
	// one is dropped) or HTTP 507; replacing a topic's message with one
	// no larger, and deleting one, always work. See retained.go.
	MaxRetainedMessages int
	MaxRetainedBytes    int64
	// ReadBufferSize and WriteBufferSize size each connection's buffers.
	// The read buffer lives as long as the connection; the write buffer
	// only while deliveries queue up, when mochi coalesces them into one
	// TLS record of up to this size (16 KiB, the largest record, measured
	// best: see docs/tuning.md).
	ReadBufferSize, WriteBufferSize int
	// IdleLinger is how long a connection that sends nothing keeps a
	// goroutine waiting for its next packet. After that the wait costs
	// no goroutine and no read buffer, only the socket's registration
	// (about 8 KiB less per idle connection; see docs/tuning.md).
	IdleLinger time.Duration
	// TokenCache is how many verified tokens the node remembers, by hash,
	// so that a client reconnecting with the same token skips the
	// signature check (broker.GrantCache); a cached token is checked
	// again against revocations, keys and expiry on every use. Default
	// 65,536 (about 20 MiB at most); negative disables the cache.
	TokenCache int
	// WriteTimeout is how long a write to a client's socket may stay
	// blocked (the client reads nothing and its buffers are full) before
	// the client is disconnected as a slow consumer and counted in
	// pubsub_slow_consumers_total. Publishers never wait on a slow
	// consumer, whatever this is; it bounds what the consumer holds (its
	// writer, its queue) and how long a takeover of its client id or a
	// DISCONNECT sent to it may take (at most a second of it).
	WriteTimeout time.Duration
}

// The fixed limits of the Pub/Sub protocol.
const (
	// maxClientIDLen is the longest client id accepted, in bytes. The
	// control plane mints ids of at most 128 bytes.
	maxClientIDLen = 256
)

// DefaultLimits returns the limits a zero Limits field takes.
func DefaultLimits() Limits {
	return Limits{
		// A retained message is a topic's last known state: 10,000 covers a
		// fleet of devices per broker, and 64 MiB (held in memory and on
		// disk) bounds what one tenant costs a node.
		MaxRetainedMessages: 10000,
		MaxRetainedBytes:    64 << 20,

		MaxPacketSize:     64 * 1024,
		ConnectTimeout:    10 * time.Second,
		MinKeepAlive:      10,
		MaxKeepAlive:      3600,
		MaxSessionExpiry:  7 * 24 * time.Hour,
		TokenLeeway:       30 * time.Second,
		TopicAliasMaximum: 64,
		ReceiveMaximum:    256,
		MaxInflight:       256,
		MaxWritesPending:  1024,
		MaxTopicLevels:    128,
		MaxSubscriptions:  1000,
		ReadBufferSize:    2048,
		WriteBufferSize:   16384,
		IdleLinger:        2 * time.Second,
		TokenCache:        65536,
		WriteTimeout:      5 * time.Second,
	}
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if len(c.MQTTAddrs) == 0 {
		c.MQTTAddrs = []string{":8883", ":8443"}
	}
	if len(c.HTTPSAddrs) == 0 {
		c.HTTPSAddrs = []string{":8884"}
	}
	if c.OpsAddr == "" {
		c.OpsAddr = "127.0.0.1:9090"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	d, l := DefaultLimits(), &c.Limits
	setDefault(&l.MaxPacketSize, d.MaxPacketSize)
	setDefault(&l.ConnectTimeout, d.ConnectTimeout)
	setDefault(&l.MinKeepAlive, d.MinKeepAlive)
	setDefault(&l.MaxKeepAlive, d.MaxKeepAlive)
	setDefault(&l.MaxSessionExpiry, d.MaxSessionExpiry)
	setDefault(&l.TokenLeeway, d.TokenLeeway)
	setDefault(&l.TopicAliasMaximum, d.TopicAliasMaximum)
	setDefault(&l.ReceiveMaximum, d.ReceiveMaximum)
	setDefault(&l.MaxInflight, d.MaxInflight)
	setDefault(&l.MaxRetainedMessages, d.MaxRetainedMessages)
	setDefault(&l.MaxRetainedBytes, d.MaxRetainedBytes)
	setDefault(&l.MaxWritesPending, d.MaxWritesPending)
	setDefault(&l.MaxTopicLevels, d.MaxTopicLevels)
	setDefault(&l.MaxSubscriptions, d.MaxSubscriptions)
	setDefault(&l.ReadBufferSize, d.ReadBufferSize)
	setDefault(&l.WriteBufferSize, d.WriteBufferSize)
	setDefault(&l.IdleLinger, d.IdleLinger)
	setDefault(&l.TokenCache, d.TokenCache)
	setDefault(&l.WriteTimeout, d.WriteTimeout)
	if l.MessageRate > 0 && l.MessageBurst == 0 {
		l.MessageBurst = max(1, int(l.MessageRate+0.999))
	}
	return c
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// validate reports the first problem of a defaulted Config.
func (c Config) validate() error {
	l := c.Limits
	switch {
	case c.Certs == nil:
		return errors.New("node: Config.Certs is required")
	case l.MaxRetainedMessages < 0 || l.MaxRetainedBytes < 0:
		return errors.New("node: MaxRetainedMessages and MaxRetainedBytes must not be negative")
	case l.MaxPacketSize < 128:
		// A CONNECT with a token does not fit in less.
		return fmt.Errorf("node: MaxPacketSize %d is too small", l.MaxPacketSize)
	case l.MaxPacketSize > 256<<20:
		return fmt.Errorf("node: MaxPacketSize %d exceeds the MQTT maximum", l.MaxPacketSize)
	case l.MinKeepAlive > l.MaxKeepAlive:
		return fmt.Errorf("node: MinKeepAlive %d exceeds MaxKeepAlive %d", l.MinKeepAlive, l.MaxKeepAlive)
	case l.ConnectTimeout < 0 || l.TokenLeeway < 0 || l.MaxSessionExpiry < 0 || l.MaxMessageExpiry < 0 || l.IdleLinger < 0 || l.WriteTimeout < 0:
		return errors.New("node: durations in Limits must not be negative")
	case l.MaxSessionExpiry > (1<<32-1)*time.Second:
		return fmt.Errorf("node: MaxSessionExpiry %v exceeds the MQTT maximum", l.MaxSessionExpiry)
	case l.MessageRate < 0 || l.MessageBurst < 0:
		return errors.New("node: MessageRate and MessageBurst must not be negative")
	case l.MaxWritesPending < 0 || l.ReadBufferSize < 0 || l.WriteBufferSize < 0 || l.MaxTopicLevels < 0 || l.MaxSubscriptions < 0:
		return errors.New("node: sizes in Limits must not be negative")
	}
	return nil
}
