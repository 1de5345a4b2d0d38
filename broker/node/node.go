package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/retainlog"
)

// closeTimeout bounds Close.
const closeTimeout = 5 * time.Second

// Node is a broker node. Create it with New, then Start it, and give it
// States with Apply; it serves no broker before the first one.
type Node struct {
	cfg Config
	log *slog.Logger
	tls *tls.Config
	// tlsALPN is tls offering ALPN, for the clients that ask (alpnConfig).
	tlsALPN *tls.Config
	m       nodeMetrics

	state   atomic.Pointer[broker.State]
	ready   atomic.Bool
	applyMu sync.Mutex // serializes Apply

	mu        sync.Mutex
	started   bool
	closing   bool
	servers   map[string]*slot // by broker id; a slot is created under mu, its server started outside it
	conns     map[net.Conn]struct{}
	listeners []net.Listener
	httpsLns  []net.Listener
	opsLn     net.Listener
	ops       *http.Server

	edge     *edge.Server
	httpLn   *connListener        // connections the accept loops found to speak HTTP
	retained broker.RetainedStore // nil: retained messages live in memory only
	closeRet func() error         // closes a store the node opened
	bus      *natsbus.Bus         // the fleet's bus; nil without NATS (fleet.go)
	sessions broker.SessionStore  // the fleet's persistent sessions; nil without NATS (fleetsession.go)

	wg        sync.WaitGroup // accept loops and connections
	closeOnce sync.Once
	grants    *broker.GrantCache // verified tokens, for MQTT and the edge
}

// curvePreferences are the key exchanges a node offers: X25519, and P-256
// for clients without it. A full handshake is what a reconnect storm is
// made of, and Go's default first choice, the hybrid post-quantum
// X25519MLKEM768, costs the server more per handshake
// (BenchmarkTLSHandshake); Go ignores the order of this list, so the
// hybrid is left out rather than put last. A client that offered only the
// hybrid's key share is asked for an X25519 one (HelloRetryRequest).
var curvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}

// serverTLS is the TLS configuration of every listener of a node.
func serverTLS(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		GetCertificate:   getCert,
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: curvePreferences,
	}
}

// setTicketKeys makes the node encrypt its TLS session tickets with the
// fleet's newest ticket key, and accept tickets of every key in tk, so a
// client resumes on any node fed the same keys. Both configurations need
// them: a config returned by GetConfigForClient uses its own keys once
// they are set. Until the first call the node uses keys of its own, which
// Go rotates, and a client resumes only here.
func (n *Node) setTicketKeys(tk *broker.TicketKeys) {
	for _, c := range []*tls.Config{n.tls, n.tlsALPN} {
		c.SetSessionTicketKeys(tk.Keys)
	}
	n.log.Info("TLS session ticket keys updated", "keys", len(tk.Keys))
}

// New validates cfg, fills in its defaults and returns a Node that is not
// yet listening.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger,
		servers: map[string]*slot{},
		conns:   map[net.Conn]struct{}{},
	}
	n.tls = serverTLS(n.getCertificate)
	n.tlsALPN = n.tls.Clone()
	n.tlsALPN.NextProtos = alpnProtocols
	n.tls.GetConfigForClient = alpnConfig(n.tlsALPN)
	ecfg := cfg.Edge
	ecfg.MaxPacketSize, ecfg.TokenLeeway, ecfg.Logger = cfg.Limits.MaxPacketSize, cfg.Limits.TokenLeeway, cfg.Logger
	ecfg.MessageRate, ecfg.MessageBurst = cfg.Limits.MessageRate, cfg.Limits.MessageBurst
	ecfg.MaxTopicLevels = cfg.Limits.MaxTopicLevels
	n.grants = broker.NewGrantCache(cfg.Limits.TokenCache)
	ecfg.Grants = n.grants
	e, err := edge.New(ecfg, edgeBackend{n})
	if err != nil {
		return nil, err
	}
	n.edge = e
	return n, nil
}

// Start binds every listener, then serves them in the background. A bind
// error returns at once, with nothing left listening. The node runs until
// Close is called or ctx ends.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closing {
		return errors.New("node: Start called twice or after Close")
	}
	var lns []net.Listener
	fail := func(err error) error {
		for _, ln := range lns {
			_ = ln.Close()
		}
		return err
	}
	for _, addr := range n.cfg.MQTTAddrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("node: listen for MQTT on %s: %w", addr, err))
		}
		lns = append(lns, ln)
	}
	var httpsLns []net.Listener
	for _, addr := range n.cfg.HTTPSAddrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("node: listen for HTTPS on %s: %w", addr, err))
		}
		lns, httpsLns = append(lns, ln), append(httpsLns, ln)
	}
	opsLn, err := net.Listen("tcp", n.cfg.OpsAddr)
	if err != nil {
		return fail(fmt.Errorf("node: listen for ops on %s: %w", n.cfg.OpsAddr, err))
	}
	if err := n.startFleet(); err != nil {
		_ = opsLn.Close()
		return fail(fmt.Errorf("node: %w", err))
	}
	if n.bus != nil {
		if n.sessions, err = n.fleetSessions(); err != nil {
			_ = opsLn.Close()
			n.closeFleet()
			return fail(fmt.Errorf("node: %w", err))
		}
	}
	switch {
	case n.cfg.RetainedStore != nil:
		n.retained = n.cfg.RetainedStore
	case n.bus != nil:
		if n.retained, err = n.fleetRetained(); err != nil {
			_ = opsLn.Close()
			n.closeFleet()
			return fail(fmt.Errorf("node: %w", err))
		}
	case n.cfg.DataDir != "":
		st, err := retainlog.Open(filepath.Join(n.cfg.DataDir, retainlog.FileName), n.log)
		if err != nil {
			_ = opsLn.Close()
			n.closeFleet()
			return fail(fmt.Errorf("node: %w", err))
		}
		n.retained, n.closeRet = st, st.Close
	}
	n.started = true
	n.listeners, n.httpsLns, n.opsLn = lns[:len(n.cfg.MQTTAddrs)], httpsLns, opsLn
	n.ops = &http.Server{Handler: n.opsHandler(), ReadHeaderTimeout: 5 * time.Second}
	n.httpLn = newConnListener(lns[0].Addr())
	if len(httpsLns) > 0 {
		n.httpLn.addr = httpsLns[0].Addr()
	}
	for _, ln := range lns {
		n.wg.Go(func() { n.accept(ln) })
	}
	n.wg.Go(func() {
		if err := n.ops.Serve(opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("ops server failed", "error", err)
		}
	})
	n.wg.Go(func() {
		if err := n.edge.Serve(n.httpLn); err != nil {
			n.log.Error("HTTPS server failed", "error", err)
		}
	})
	context.AfterFunc(ctx, func() { _ = n.Close() })
	addrs := make([]string, len(lns))
	for i, ln := range lns {
		addrs[i] = ln.Addr().String()
	}
	n.log.Info("broker node listening", "mqtt", addrs[:len(n.cfg.MQTTAddrs)], "https", addrs[len(n.cfg.MQTTAddrs):], "ops", opsLn.Addr().String())
	return nil
}

// HTTPSAddrs returns the bound addresses of the HTTPS listeners, in the
// order of Config.HTTPSAddrs; nil before Start.
func (n *Node) HTTPSAddrs() []net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []net.Addr
	for _, ln := range n.httpsLns {
		out = append(out, ln.Addr())
	}
	return out
}

// MQTTAddrs returns the bound addresses of the MQTT listeners, in the
// order of Config.MQTTAddrs; nil before Start.
func (n *Node) MQTTAddrs() []net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []net.Addr
	for _, ln := range n.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

// OpsAddr returns the bound address of the ops HTTP server; nil before
// Start.
func (n *Node) OpsAddr() net.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.opsLn == nil {
		return nil
	}
	return n.opsLn.Addr()
}

// Ready reports whether the node has applied a State.
func (n *Node) Ready() bool { return n.ready.Load() }

// Apply makes st the node's configuration and enforces it on live
// sessions: by the time it returns, new connections are judged by st, and
// the DISCONNECT of every session st invalidates is on its way (revoked
// token or removed key 0x87, expiration lowered below the token's age
// 0x98, deleted broker 0x98 before its server stops). Token deadlines
// are rescheduled when a broker's expiration changes. Apply is safe to
// call concurrently; calls are serialized. A nil st is ignored.
func (n *Node) Apply(st *broker.State) {
	if st == nil {
		return
	}
	n.applyMu.Lock()
	defer n.applyMu.Unlock()
	// Keys first, so that a State seen applied (its revision in the
	// metrics) has its ticket keys in use.
	if tk := st.TicketKeys(); tk != nil && tk != n.state.Load().TicketKeys() {
		n.setTicketKeys(tk)
	}
	old := n.state.Swap(st)
	n.ready.Store(true)
	now := time.Now()

	n.mu.Lock()
	var gone []*server
	live := make([]*server, 0, len(n.servers))
	for id, sl := range n.servers {
		switch {
		case st.Broker(id) != nil:
			if sl.srv != nil {
				live = append(live, sl.srv)
			}
			// A server still starting reads the State when it is done.
		case sl.srv != nil:
			delete(n.servers, id)
			gone = append(gone, sl.srv)
		default:
			// Its starter finds the slot gone and stops the server.
			delete(n.servers, id)
		}
	}
	n.mu.Unlock()

	for _, s := range gone {
		s.log.Info("broker deleted, closing its sessions")
		n.wg.Go(func() { s.shutdown(broker.RefuseDeleted) })
	}
	for _, s := range live {
		if ob, nb := old.Broker(s.id), st.Broker(s.id); ob != nb {
			s.enforce(ob, nb, now)
		}
	}
	n.edge.Apply(old, st, now)
	if old != nil {
		for b := range old.Brokers() {
			if st.Broker(b.ID) == nil {
				n.deleteJournal(b.ID)
			}
		}
	}
	if n.retained != nil && old != nil {
		// A deleted broker's retained messages go with it.
		for b := range old.Brokers() {
			if st.Broker(b.ID) == nil {
				if err := n.retained.DeleteRetained(context.Background(), b.ID); err != nil {
					n.log.Error("deleting a deleted broker's retained messages", "broker", b.Hostname, "error", err)
				}
				if n.sessions == nil {
					continue
				}
				if err := n.sessions.DeleteSessions(context.Background(), b.ID); err != nil {
					n.log.Error("deleting a deleted broker's sessions", "broker", b.Hostname, "error", err)
				}
			}
		}
	}
}

// Run applies the States src produces until ctx ends or src fails, and
// returns src's error.
func (n *Node) Run(ctx context.Context, src broker.ConfigSource) error {
	return src.Run(ctx, n.Apply)
}

// slot is a broker's place in Node.servers. The first connection to an
// idle broker creates it under Node.mu and starts the server outside the
// lock, since loading a broker's retained messages may take long; later
// connections to that broker wait on ready, those to others do not wait
// at all.
type slot struct {
	ready chan struct{} // closed once the start is over
	srv   *server       // set under Node.mu; nil while starting, and if the start failed
}

// serverFor returns the server of broker b, starting it on first use:
// most brokers of a node are idle, and a server costs goroutines and
// timers. It returns nil when the node is closing or b is no longer in
// the current State (checked under the lock Apply takes to find deleted
// brokers, so no server outlives its broker). Only the callers for b
// wait for b's server to start, at most Limits.ConnectTimeout; Node.mu is
// never held meanwhile.
func (n *Node) serverFor(b *broker.Broker) *server {
	n.mu.Lock()
	if n.closing || n.state.Load().Broker(b.ID) == nil {
		n.mu.Unlock()
		return nil
	}
	if sl := n.servers[b.ID]; sl != nil {
		n.mu.Unlock()
		// A start that takes longer than a CONNECT may is the
		// starter's to finish; the others give up rather than pile up.
		t := time.NewTimer(n.cfg.Limits.ConnectTimeout)
		defer t.Stop()
		select {
		case <-sl.ready:
			return sl.srv
		case <-t.C:
			n.log.Warn("broker server still starting, connection turned away", "broker", b.Hostname)
			return nil
		}
	}
	sl := &slot{ready: make(chan struct{})}
	n.servers[b.ID] = sl
	n.mu.Unlock()

	s, err := newServer(n, b)
	var stop *server
	n.mu.Lock()
	cur := n.state.Load().Broker(b.ID)
	switch {
	case err != nil:
		n.log.Error("starting broker server", "broker", b.Hostname, "error", err)
	case n.servers[b.ID] != sl || n.closing || cur == nil:
		// Apply deleted the broker, or Close began, while it started.
		stop = s
	default:
		if cur.Hostname != b.Hostname {
			// Apply renamed it meanwhile. No session exists yet, and
			// register checks the current State for every new one.
			s.host.Store(&cur.Hostname)
		}
		sl.srv = s
	}
	if sl.srv == nil && n.servers[b.ID] == sl {
		delete(n.servers, b.ID) // the next connection tries again
	}
	n.mu.Unlock()
	close(sl.ready)
	if stop != nil {
		stop.shutdown(broker.RefuseShutdown)
	}
	return sl.srv
}

// serverList returns the running servers.
func (n *Node) serverList() []*server {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*server, 0, len(n.servers))
	for _, sl := range n.servers {
		if sl.srv != nil {
			out = append(out, sl.srv)
		}
	}
	return out
}

// Close stops the node: listeners close, every client gets DISCONNECT
// 0x8B, every broker's server stops. It returns within a few seconds
// whatever the clients do, and is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closing = true
		servers := make([]*server, 0, len(n.servers))
		for _, sl := range n.servers {
			if sl.srv != nil {
				servers = append(servers, sl.srv)
			}
		}
		// Servers still starting are stopped by their starters.
		n.servers = map[string]*slot{}
		for _, ln := range append(n.listeners, n.httpsLns...) {
			_ = ln.Close()
		}
		n.mu.Unlock()
		if n.httpLn != nil {
			_ = n.httpLn.Close()
		}
		_ = n.edge.Close()

		if n.ops != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = n.ops.Shutdown(ctx)
			cancel()
			_ = n.ops.Close()
		}
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(func() { s.shutdown(broker.RefuseShutdown) })
		}
		waitTimeout(&wg, closeTimeout)

		n.mu.Lock()
		for c := range n.conns {
			_ = c.Close()
		}
		n.mu.Unlock()
		if !waitTimeout(&n.wg, closeTimeout) {
			n.log.Warn("broker node closed with connections still winding down")
		}
		n.closeFleet()
		if n.closeRet != nil {
			if err := n.closeRet(); err != nil {
				n.log.Error("closing the retained message store", "error", err)
			}
		}
	})
	return nil
}
