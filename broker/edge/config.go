package edge

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// Backend is what the edge needs from the broker node that runs it. The
// node implements it over its per-broker MQTT servers.
type Backend interface {
	// State returns the node's current configuration.
	State() *broker.State
	// Bus returns the message bus of broker b, starting the broker's
	// server if needed; nil when the node does not serve b any more (it
	// was deleted meanwhile) or is closing.
	Bus(b *broker.Broker) Bus
	// ServeMQTT runs an MQTT connection (a WebSocket's byte stream) until
	// it ends, exactly as a TLS connection of the node: same server, same
	// authentication, ACLs and limits. b is the broker the request's host
	// name chose, or nil to route by the audience of the CONNECT's token.
	ServeMQTT(c net.Conn, b *broker.Broker)
}

// Bus is one broker's message bus: its MQTT server, as the edge uses it.
type Bus interface {
	// Publish publishes m, already authorized, to every subscriber of
	// the broker (MQTT, WebSocket and SSE alike). A retained message is
	// on disk when Publish returns nil. An *Error is the broker's refusal,
	// sent to the client as it is (ERETAINEDQUOTA).
	Publish(m *broker.Message) error
	// Subscribe calls deliver with every message published to a topic
	// that filter matches, until unsubscribe is called. deliver runs on
	// the publisher's goroutine, so it must not block.
	Subscribe(filter string, deliver func(*broker.Message)) (unsubscribe func(), err error)
	// Retained returns the unexpired retained messages that filter
	// matches.
	Retained(filter string) []*broker.Message
}

// JournaledBus is a Bus whose broker keeps a Journal shared by the
// nodes of a fleet. Its SSE streams then follow the journal rather than
// the bus, so that their event ids are the journal's sequence numbers,
// which every node resolves: a client resumes on any node.
type JournaledBus interface {
	Bus
	// Journal returns the broker's journal; nil when the node runs alone.
	Journal() broker.Journal
}

// Config configures the edge. A zero field takes its default, listed in
// DefaultConfig.
type Config struct {
	// MaxPacketSize is the node's MQTT maximum packet size: an HTTP
	// publish's body must fit in a PUBLISH packet of this size.
	MaxPacketSize uint32
	// MaxTopicLevels is the node's limit on topic levels (0: none): a
	// topic or filter with more is refused with 400.
	MaxTopicLevels int
	// TokenLeeway tolerates clock skew in exp and iat, as at CONNECT.
	TokenLeeway time.Duration
	// Grants caches verified tokens, shared with the node's MQTT side;
	// nil caches nothing.
	Grants *broker.GrantCache
	// MaxTopics is the most distinct topics one SSE request may name.
	MaxTopics int
	// KeepAlive is how long an idle SSE stream waits before it sends a
	// comment, so that proxies and clients see it alive.
	KeepAlive time.Duration
	// ReplayCount, ReplayAge and ReplayBytes bound the buffer each topic
	// filter keeps of its recent messages, from which a reconnecting SSE
	// client (Last-Event-ID) gets what it missed. A filter nobody streams
	// any more keeps its subscription for ReplayAge, so that a client
	// reconnecting within that time misses nothing. A negative
	// ReplayCount keeps no buffer.
	ReplayCount int
	ReplayAge   time.Duration
	ReplayBytes int
	// MessageRate, when positive, limits the HTTP publishes of each token
	// (jti) to this many per second on average, with bursts of
	// MessageBurst; a publish over it is answered 429 with Retry-After.
	// The node passes its MQTT message rate, so that a token publishes
	// no faster over HTTP than one MQTT connection may.
	MessageRate float64
	// MessageBurst is the burst allowed above MessageRate. Default: the
	// rate rounded up, at least 1.
	MessageBurst int
	// ClientQueue is how many events an SSE client may fall behind
	// before it is disconnected as too slow.
	ClientQueue int
	// WriteTimeout bounds one write to an SSE client.
	WriteTimeout time.Duration
	// Origins lists the origins allowed to call the edge from a browser
	// (CORS and WebSocket). Empty allows every origin; tokens travel in
	// headers or the query, never in cookies, so no origin gains
	// anything it could not do itself.
	Origins []string
	// ExamplePage serves the example page at /.
	ExamplePage bool
	// Keys creates keys of self-signed tokens for `POST /admin/keys`
	// (fastly's), by forwarding the client's account credentials to the
	// control plane; nil answers that path 503.
	Keys broker.KeyIssuer
	// Logger receives the edge's logs, which never contain a token.
	Logger *slog.Logger
}

// ReplayWindow returns the bounds of the edge's SSE replay buffers, after
// defaults: a count of zero or less keeps none.
func (s *Server) ReplayWindow() (count int, age time.Duration) {
	return s.cfg.ReplayCount, s.cfg.ReplayAge
}

// DefaultConfig returns the defaults of the zero fields of a Config.
func DefaultConfig() Config {
	return Config{
		MaxPacketSize: 64 * 1024,
		TokenLeeway:   30 * time.Second,
		MaxTopics:     10,
		KeepAlive:     15 * time.Second,
		ReplayCount:   100,
		ReplayAge:     2 * time.Minute,
		ReplayBytes:   1 << 20,
		ClientQueue:   64,
		WriteTimeout:  10 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	def := func(v *int, x int) {
		if *v == 0 {
			*v = x
		}
	}
	defDur := func(v *time.Duration, x time.Duration) {
		if *v == 0 {
			*v = x
		}
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = d.MaxPacketSize
	}
	defDur(&c.TokenLeeway, d.TokenLeeway)
	def(&c.MaxTopics, d.MaxTopics)
	defDur(&c.KeepAlive, d.KeepAlive)
	def(&c.ReplayCount, d.ReplayCount)
	defDur(&c.ReplayAge, d.ReplayAge)
	def(&c.ReplayBytes, d.ReplayBytes)
	def(&c.ClientQueue, d.ClientQueue)
	defDur(&c.WriteTimeout, d.WriteTimeout)
	if c.MessageRate > 0 && c.MessageBurst == 0 {
		c.MessageBurst = max(1, int(c.MessageRate+0.999))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.MaxTopics < 1 || c.ReplayBytes < 0 || c.ClientQueue < 1:
		return errors.New("edge: MaxTopics and ClientQueue must be positive, ReplayBytes not negative")
	case c.MessageRate < 0 || c.MessageBurst < 0:
		return errors.New("edge: MessageRate and MessageBurst must not be negative")
	case c.KeepAlive < time.Second || c.ReplayAge < 0 || c.WriteTimeout < 0 || c.TokenLeeway < 0:
		return errors.New("edge: KeepAlive must be at least 1s, and other durations not negative")
	}
	return nil
}
