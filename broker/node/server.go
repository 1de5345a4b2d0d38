package node

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
)

// listenerID names the one listener of every mochi server. The node owns
// the sockets; mochi only sees connections handed to EstablishConnection.
const listenerID = "pubsub"

// sysTopicInterval is how often mochi refreshes its $SYS topics, in
// seconds. Nobody may read them, and the refresh reads the Go runtime's
// memory statistics, so it is pushed out of the way (one year).
const sysTopicInterval = 365 * 24 * 3600

// server is the mochi server of one broker, with the index of its
// sessions that enforcement uses.
type server struct {
	node  *Node
	id    string
	host  atomic.Pointer[string]
	mochi *mqtt.Server
	ln    *listener
	log   *slog.Logger
	m     brokerMetrics

	sessions broker.Sessions // every session, connected or offline

	mu      sync.Mutex
	closed  bool
	conns   map[*conn]struct{}
	offline map[string]*session // offline sessions by client id

	active sync.WaitGroup // EstablishConnection calls in progress
	bg     sync.WaitGroup // DISCONNECTs being sent

	bus      *bus        // the edge's access (edge.go)
	fleet    serverFleet // the server's part in a fleet (fleet.go)
	retainMu [retainStripes]sync.Mutex
	quota    retainedQuota // retained.go

	hook hookState // the on-publish hook (onpublish.go)
}

// newServer starts the mochi server of broker b.
func newServer(n *Node, b *broker.Broker) (*server, error) {
	l := n.cfg.Limits
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MinimumProtocolVersion = 5
	caps.MaximumPacketSize = l.MaxPacketSize
	caps.MaximumSessionExpiryInterval = uint32(l.MaxSessionExpiry / time.Second)
	caps.MaximumMessageExpiryInterval = int64(l.MaxMessageExpiry / time.Second)
	caps.MaximumClientWritesPending = l.MaxWritesPending
	caps.ReceiveMaximum = l.ReceiveMaximum
	caps.MaximumInflight = l.MaxInflight
	caps.TopicAliasMaximum = l.TopicAliasMaximum
	caps.MaximumTopicLevels = l.MaxTopicLevels
	caps.MaximumClientSubscriptions = l.MaxSubscriptions

	s := &server{
		node:    n,
		id:      b.ID,
		ln:      &listener{done: make(chan struct{})},
		log:     n.log.With("broker", b.Hostname),
		conns:   map[*conn]struct{}{},
		offline: map[string]*session{},
	}
	s.host.Store(&b.Hostname)
	s.mochi = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  l.ReadBufferSize,
		ClientNetWriteBufferSize: l.WriteBufferSize,
		IdleSessionLinger:        l.IdleLinger,
		WriteTimeout:             l.WriteTimeout,
		Logger:                   slog.New(mochiHandler{s.log.Handler()}),
		SysTopicResendInterval:   sysTopicInterval,
		// The edge subscribes and publishes on behalf of HTTP clients.
		InlineClient: true,
		// The hook grants a filter only when the token allows every topic
		// it matches (topic.ACL.AllowsFilter), so deliveries are checked
		// only for sessions taken over with a narrower token.
		ACLCoversFilters: true,
	})
	if err := s.mochi.AddHook(&hook{srv: s, limits: l}, nil); err != nil {
		return nil, err
	}
	if err := s.mochi.AddHook(&retainHook{srv: s}, nil); err != nil {
		return nil, err
	}
	s.bus = newBus(s)
	if err := s.loadRetained(); err != nil {
		return nil, err
	}
	if err := s.joinFleet(); err != nil {
		return nil, err
	}
	if err := s.joinJournal(); err != nil {
		return nil, err
	}
	if err := s.mochi.AddListener(s.ln); err != nil {
		return nil, err
	}
	if err := s.mochi.Serve(); err != nil {
		return nil, err
	}
	return s, nil
}

// hostname returns the broker's hostname, the label of its metrics.
func (s *server) hostname() string { return *s.host.Load() }

// establish serves one client connection on the broker's server, and
// calls ended once the connection has ended, which may be after
// establish has returned. It owns c.
func (s *server) establish(c *conn, ended func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		ended()
		return
	}
	c.srv = s
	c.since = time.Now()
	s.conns[c] = struct{}{}
	s.active.Add(1)
	s.mu.Unlock()
	// An idle session's wait moves to a fresh goroutine with a small
	// stack (see the mochi fork's ServeConnection), so its end may come
	// on another goroutine than this one.
	s.mochi.ServeConnection(listenerID, c, func(err error) {
		s.log.Debug("connection ended", "remote", c.RemoteAddr().String(), "error", err)
		if errors.Is(err, packets.ErrUnsupportedProtocolVersion) {
			// Mochi refuses MQTT 3.x before the hook sees the CONNECT.
			s.m.refused("protocol_version")
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		if sess := c.sess.Load(); sess != nil {
			s.ended(sess)
		}
		s.active.Done()
		ended()
	})
}

// register adds a session to the index, unless the current State, which
// Apply may have swapped in since the token was verified, refuses it
// (broker.Sessions.Register). An offline session of the same client id
// leaves the index: the new one takes its place, and mochi hands it the
// old one's state.
func (s *server) register(sess *session, now time.Time) *broker.Refusal {
	current := func() *broker.Broker { return s.node.state.Load().Broker(s.id) }
	if r := s.sessions.Register(sess, current, now, s.node.cfg.Limits.TokenLeeway); r != nil {
		return r
	}
	s.mu.Lock()
	old := s.offline[sess.clientID]
	delete(s.offline, sess.clientID)
	s.mu.Unlock()
	if old != nil {
		old.disconnected(0)
		s.sessions.Unregister(old)
	}
	return nil
}

// keepFor is how long mochi may keep what remains of the disconnected
// client cl: its session expiry, or its will's delay if longer, plus the
// second mochi's expiry sweep may take.
func keepFor(cl *mqtt.Client) time.Duration {
	d := time.Duration(cl.Properties.Props.SessionExpiryInterval) * time.Second
	if w := time.Duration(cl.Properties.Will.WillDelayInterval) * time.Second; w > d {
		d = w
	}
	return d + 2*time.Second
}

// ended follows a session whose connection has ended. If mochi keeps its
// state (a session expiry, a delayed will), the session stays in the
// index offline, so that revoking its token drops that state too. A
// session ended for its credentials (revoked, key removed, too old) has
// its state dropped at once: the next connection with its client id
// starts afresh.
func (s *server) ended(sess *session) {
	switch {
	case sess.cl.IsTakenOver() || !s.mochi.Retains(sess.cl):
		sess.disconnected(0)
		s.sessionEnded(sess, false)
	case dropsState(sess.endedFor()):
		sess.disconnected(0)
		s.dropOffline(sess, sess.endedFor())
	case sess.disconnected(keepFor(sess.cl)):
		// Kept in the fleet's store also when this server is closing:
		// the client may resume it on another node.
		s.sessionEnded(sess, true)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			break
		}
		s.offline[sess.clientID] = sess
		s.mu.Unlock()
		return
	default:
		// Ended by the node (an expired token, a shutdown): mochi keeps
		// the session, and so does the fleet, unless its broker is gone.
		s.sessionEnded(sess, sess.endedFor() != broker.RefuseDeleted)
	}
	s.sessions.Unregister(sess)
}

// dropsState reports whether a session ended for r loses what mochi keeps
// of it: the credentials are gone for good, not merely expired (a device
// resumes its session with a fresh token).
func dropsState(r *broker.Refusal) bool {
	return r == broker.RefuseRevoked || r == broker.RefuseKeyRemoved || r == broker.RefuseTooOld
}

// dropOffline drops what mochi keeps of an offline session ended for r,
// and, when r takes its credentials away for good, what the fleet's
// store keeps.
func (s *server) dropOffline(sess *session, r *broker.Refusal) {
	s.forget(sess)
	if dropsState(r) {
		s.sessionEnded(sess, false)
	}
	s.mu.Lock()
	closed := s.closed // mochi is closing: nothing to keep anyway
	s.mu.Unlock()
	if !closed && s.mochi.DropSession(sess.cl) {
		s.m.dropped(string(r.Reason))
		s.log.Info("dropped an offline session", "client_id", sess.clientID, "jti", sess.grant.JTI, "reason", r.Reason)
	}
}

// forget removes an offline session from the index.
func (s *server) forget(sess *session) {
	s.mu.Lock()
	if s.offline[sess.clientID] == sess {
		delete(s.offline, sess.clientID)
	}
	s.mu.Unlock()
	s.sessions.Unregister(sess)
}

// enforce ends the sessions that broker nb no longer accepts, when the
// broker changed from ob (broker.Sessions.Enforce).
func (s *server) enforce(ob, nb *broker.Broker, now time.Time) {
	if nb.Hostname != s.hostname() {
		s.host.Store(&nb.Hostname)
	}
	s.sessions.Enforce(ob, nb, now, s.node.cfg.Limits.TokenLeeway)
}

// shutdown ends every session with r, then stops the mochi server. It
// is bounded in time: a client that does not read its DISCONNECT is cut
// off.
func (s *server) shutdown(r *broker.Refusal) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.closeHook() // releases the publishers waiting for it
	s.sessions.Close(r)

	waitTimeout(&s.bg, 2*disconnectWriteTimeout)
	for _, c := range conns {
		_ = c.Close()
	}
	waitTimeout(&s.active, 2*disconnectWriteTimeout)
	s.leaveFleet()
	_ = s.mochi.Close()
}

// packetTooLarge answers a packet over the size limit, seen by c's
// framer, with DISCONNECT 0x95; before CONNACK the connection is simply
// closed, as MQTT allows no DISCONNECT there.
func (s *server) packetTooLarge(c *conn) {
	if sess := c.sess.Load(); sess != nil && sess.established.Load() {
		sess.disconnect(refTooLarge)
	}
}

// waitTimeout waits for wg, or for d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// listener is the mochi listener of a broker's server: it accepts
// nothing, since the node hands connections over itself, and it lets
// mochi close the broker's clients on shutdown.
type listener struct {
	done chan struct{}
	once sync.Once
}

func (l *listener) Init(*slog.Logger) error     { return nil }
func (l *listener) Serve(listeners.EstablishFn) { <-l.done }
func (l *listener) ID() string                  { return listenerID }
func (l *listener) Address() string             { return "" }
func (l *listener) Protocol() string            { return "mqtts" }
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() { close(l.done) })
	closeClients(listenerID)
}
