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

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	sessions map[*session]struct{}
	byJTI    map[string]map[*session]struct{}
	byKID    map[string]map[*session]struct{}

	active sync.WaitGroup // EstablishConnection calls in progress
	bg     sync.WaitGroup // DISCONNECTs being sent

	bus      *bus // the edge's access (edge.go)
	retainMu [retainStripes]sync.Mutex
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

	s := &server{
		node:     n,
		id:       b.ID,
		ln:       &listener{done: make(chan struct{})},
		log:      n.log.With("broker", b.Hostname),
		conns:    map[*conn]struct{}{},
		sessions: map[*session]struct{}{},
		byJTI:    map[string]map[*session]struct{}{},
		byKID:    map[string]map[*session]struct{}{},
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
		if sess := c.sess.Load(); sess != nil {
			s.unregisterLocked(sess)
		}
		s.mu.Unlock()
		s.active.Done()
		ended()
	})
}

// register adds a session to the index, unless the current State, which
// Apply may have swapped in since the token was verified, refuses it.
// Checking again under the lock that enforcement takes closes the race
// with Apply: either this sees the new State, or enforcement sees the
// session.
func (s *server) register(sess *session, now time.Time) *refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.node.state.Load().Broker(s.id)
	switch {
	case s.closed || b == nil:
		return refUnavailable
	case b.Revoked(sess.jti):
		return refRevoked
	case b.Keys[sess.kid] == nil:
		return &refusal{0x86, "unknown_key", "token key id is not a key of this broker"}
	case b.TooOld(sess.iat, now):
		return refTooOld
	}
	s.sessions[sess] = struct{}{}
	addTo(s.byJTI, sess.jti, sess)
	addTo(s.byKID, sess.kid, sess)
	return nil
}

func (s *server) unregisterLocked(sess *session) {
	sess.stop()
	delete(s.sessions, sess)
	removeFrom(s.byJTI, sess.jti, sess)
	removeFrom(s.byKID, sess.kid, sess)
}

func addTo(idx map[string]map[*session]struct{}, key string, sess *session) {
	set := idx[key]
	if set == nil {
		set = map[*session]struct{}{}
		idx[key] = set
	}
	set[sess] = struct{}{}
}

func removeFrom(idx map[string]map[*session]struct{}, key string, sess *session) {
	if set := idx[key]; set != nil {
		delete(set, sess)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}

// enforce ends the sessions that broker nb no longer accepts, when the
// broker changed from ob. Revocation costs the smaller of the live jtis
// and the revocations, never a scan of every session.
func (s *server) enforce(ob, nb *broker.Broker, now time.Time) {
	if nb.Hostname != s.hostname() {
		s.host.Store(&nb.Hostname)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byJTI) <= nb.Revocations() {
		for jti, set := range s.byJTI {
			if nb.Revoked(jti) {
				endAll(set, dcRevoked)
			}
		}
	} else {
		for jti := range nb.RevokedIDs() {
			endAll(s.byJTI[jti], dcRevoked)
		}
	}
	for kid, set := range s.byKID {
		if nb.Keys[kid] == nil {
			endAll(set, dcKeyRemoved)
		}
	}
	if ob == nil || ob.Expiration != nb.Expiration {
		for sess := range s.sessions {
			if nb.TooOld(sess.iat, now) {
				sess.end(dcTooOld)
			} else {
				sess.schedule(sess.deadline(nb, s.node.cfg.Limits.TokenLeeway))
			}
		}
	}
}

func endAll(set map[*session]struct{}, why disconnectAs) {
	for sess := range set {
		sess.end(why)
	}
}

// shutdown ends every session with why, then stops the mochi server. It
// is bounded in time: a client that does not read its DISCONNECT is cut
// off.
func (s *server) shutdown(why disconnectAs) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for sess := range s.sessions {
		sess.end(why)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	waitTimeout(&s.bg, 2*disconnectWriteTimeout)
	for _, c := range conns {
		_ = c.Close()
	}
	waitTimeout(&s.active, 2*disconnectWriteTimeout)
	_ = s.mochi.Close()
}

// packetTooLarge answers a packet over the size limit, seen by c's
// framer, with DISCONNECT 0x95; before CONNACK the connection is simply
// closed, as MQTT allows no DISCONNECT there.
func (s *server) packetTooLarge(c *conn) {
	if sess := c.sess.Load(); sess != nil && sess.established.Load() {
		sess.disconnect(dcTooLarge)
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
