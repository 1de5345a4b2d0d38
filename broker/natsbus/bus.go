package natsbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/openpubsub/pubsub/broker"
)

// Config configures a Bus. The zero value of each field but URL means its
// default.
type Config struct {
	// URL lists the NATS servers, comma-separated
	// (nats://h1:4222,nats://h2:4222). Required.
	URL string
	// CredsFile is a NATS credentials file (user JWT and NKey seed).
	CredsFile string
	// CAFile holds the CA certificates that verify the NATS servers'
	// TLS certificates, for tls:// URLs signed by a private CA.
	CAFile string
	// NodeID names this node on the bus; it must be unique in the fleet.
	// Default: a random id, new at each start.
	NodeID string
	// Prefix is the first token of every subject. Default: "pubsub".
	Prefix string
	// ReceiveBuffer bounds, per broker, the messages received from the
	// bus and not yet handed to local subscribers. Past it, messages are
	// dropped and counted (NATS's slow consumer). Default: 8192.
	ReceiveBuffer int
	// ReconnectBuffer bounds the bytes of messages published while the
	// bus reconnects; past it, publishes fail and are counted as drops.
	// Default: 8 MiB.
	ReconnectBuffer int
	// RetainedReplicas is the replication of the retained message and
	// session buckets in JetStream. Default: 3 when NATS reports three servers or more
	// (R3 survives one server's loss), else 1.
	RetainedReplicas int
	// JournalMessages and JournalBytes bound, per broker, the SSE replay
	// journal (Bus.Journal), oldest messages dropped first. Default:
	// 10,000 messages and 16 MiB.
	JournalMessages, JournalBytes int64
	// Logger receives the bus's logs. Default: slog.Default().
	Logger *slog.Logger
}

// Stats are a Bus's counters since it was connected.
type Stats struct {
	// Connected reports whether the bus is connected to a NATS server.
	Connected bool
	// Published and Received count the messages sent to and taken from
	// the bus (echoes of this node's own messages and duplicates are not
	// received).
	Published, Received uint64
	// PublishDrops counts the messages the bus refused (down for longer
	// than ReconnectBuffer covers, subject too long, payload larger than
	// the server's max_payload); ReceiveDrops the messages lost for a
	// full ReceiveBuffer or a malformed envelope.
	PublishDrops, ReceiveDrops uint64
	// Reconnects counts the reconnections to NATS.
	Reconnects uint64
	// JetStreamErrors counts the failures of the retained message store's
	// writes and watches (each watch retried), of the SSE journals' and of
	// the session store's
	// calls.
	JetStreamErrors uint64
}

// Bus is a node's connection to the fleet's NATS cluster. It implements
// broker.Fanout.
type Bus struct {
	cfg Config
	nc  *nats.Conn // publishes, and every subscription but the groups'
	// gc holds the subscriptions of shared groups (NATS queue groups). It
	// gets this node's own messages too, unlike nc (NoEcho): NATS skips a
	// publisher's own connection when it picks a group member, and the
	// member it should pick may be here.
	gc  *nats.Conn
	log *slog.Logger

	published, received, pubDrops, recvDrops, malformed, reconnects, jsErrors atomic.Uint64

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
}

var _ broker.Fanout = (*Bus)(nil)

// Connect checks cfg and connects to NATS. It does not wait for a server
// to answer: a node starts, and serves its own clients, while NATS is
// unreachable, and the bus keeps reconnecting in the background.
func Connect(cfg Config) (*Bus, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, errors.New("natsbus: a NATS URL is required")
	}
	for _, f := range []string{cfg.CredsFile, cfg.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("natsbus: %w", err)
		}
	}
	if cfg.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.NodeID = hex.EncodeToString(b[:])
	}
	if len(cfg.NodeID) > 255 {
		return nil, errors.New("natsbus: the node id is longer than 255 bytes")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "pubsub"
	}
	if cfg.ReceiveBuffer <= 0 {
		cfg.ReceiveBuffer = 8192
	}
	if cfg.ReconnectBuffer <= 0 {
		cfg.ReconnectBuffer = 8 << 20
	}
	if cfg.JournalMessages <= 0 {
		cfg.JournalMessages = 10_000
	}
	if cfg.JournalBytes <= 0 {
		cfg.JournalBytes = 16 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Bus{cfg: cfg, log: cfg.Logger.With("node_id", cfg.NodeID), links: map[*link]struct{}{}}
	opts := []nats.Option{
		nats.Name("pubsub-node " + cfg.NodeID),
		// The server sends this node's messages only to other nodes:
		// local subscribers already have them.
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(cfg.ReconnectBuffer),
		nats.ErrorHandler(b.asyncError),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.log.Warn("lost NATS; serving local clients only until it is back", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.reconnects.Add(1)
			b.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	gopts := []nats.Option{
		nats.Name("pubsub-node " + cfg.NodeID + " groups"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ErrorHandler(b.asyncError),
	}
	if cfg.CredsFile != "" {
		gopts = append(gopts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.CAFile != "" {
		gopts = append(gopts, nats.RootCAs(cfg.CAFile))
	}
	gc, err := nats.Connect(cfg.URL, gopts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	b.nc, b.gc = nc, gc
	return b, nil
}

// asyncError logs what NATS reports outside any call. A slow consumer
// is a link whose ReceiveBuffer is full: its drops are counted by the
// subscriptions and summed in Stats.
func (b *Bus) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
		b.log.Warn("dropping messages from NATS: the node does not keep up", "subject", sub.Subject)
		return
	}
	b.log.Error("NATS error", "error", err)
}

// replicas returns the replication of a JetStream stream the fleet
// shares: n when positive, else 3 when NATS reports three servers or more
// (R3 survives one server's loss), else 1.
func (b *Bus) replicas(n int) int {
	switch {
	case n > 0:
		return n
	case len(b.nc.Servers()) >= 3:
		return 3
	}
	return 1
}

// NodeID returns the node's id on the bus.
func (b *Bus) NodeID() string { return b.cfg.NodeID }

// Conn returns the NATS connection, for JetStream.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Connected reports whether the bus is connected to a NATS server.
func (b *Bus) Connected() bool { return b.nc.IsConnected() && b.gc.IsConnected() }

// Stats returns the bus's counters.
func (b *Bus) Stats() Stats {
	s := Stats{
		Connected:    b.Connected(),
		Published:    b.published.Load(),
		Received:     b.received.Load(),
		PublishDrops: b.pubDrops.Load(),
		ReceiveDrops: b.recvDrops.Load() + b.malformed.Load(),
		Reconnects:   b.reconnects.Load(),

		JetStreamErrors: b.jsErrors.Load(),
	}
	b.mu.Lock()
	links := make([]*link, 0, len(b.links))
	for l := range b.links {
		links = append(links, l)
	}
	b.mu.Unlock()
	for _, l := range links {
		s.ReceiveDrops += l.slowDrops()
	}
	return s
}

// Join implements broker.Fanout.
func (b *Bus) Join(brokerID string, deliver func(*broker.Message, string), claimed func(broker.Claim)) (broker.Link, error) {
	return b.join(brokerID, deliver, claimed)
}

func (b *Bus) join(brokerID string, deliver func(*broker.Message, string), claimed func(broker.Claim)) (*link, error) {
	if brokerID == "" || deliver == nil {
		return nil, errors.New("natsbus: Join needs a broker id and a deliver function")
	}
	l := newLink(b, brokerID, deliver)
	if claimed != nil {
		// Claims need no order: they come on their own subscription.
		sub, err := b.nc.Subscribe(l.claimSubject, func(msg *nats.Msg) {
			if c, err := decodeClaim(msg.Data); err == nil && c.Node != b.cfg.NodeID {
				claimed(c)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("natsbus: %w", err)
		}
		l.claimSub = sub
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, nats.ErrConnectionClosed
	}
	b.links[l] = struct{}{}
	b.mu.Unlock()
	go l.receive()
	go l.follow()
	return l, nil
}

// Close closes every link and the connection, after sending what it
// buffered, within a few seconds.
func (b *Bus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	links := make([]*link, 0, len(b.links))
	for l := range b.links {
		links = append(links, l)
	}
	b.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	_ = b.nc.FlushTimeout(2 * time.Second)
	b.nc.Close()
	b.gc.Close()
}

// forget removes a closed link.
func (b *Bus) forget(l *link) {
	b.mu.Lock()
	delete(b.links, l)
	b.mu.Unlock()
}
