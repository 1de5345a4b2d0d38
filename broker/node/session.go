package node

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/openpubsub/pubsub/broker"
)

// session is one authenticated client of a broker: its grant, and what
// enforcement needs to end it. It lives in the server's broker.Sessions
// index from CONNECT until its connection ends, and on after that while
// mochi keeps its session (subscriptions, queued messages) or its
// delayed will, so that revoking its token or removing its key drops
// those too. The grant is immutable, so the checks every PUBLISH,
// SUBSCRIBE and delivery run need no lock.
type session struct {
	srv      *server
	cl       *mqtt.Client
	clientID string
	grant    *broker.Grant

	// received is the last topic name canReceive allowed.
	received atomic.Pointer[string]

	// The message rate limiter, used only by the client's read goroutine.
	bucket broker.Bucket

	established atomic.Bool

	// at is when the session was established, in a fleet: its claim on
	// the client id, and the owner of its session in the fleet's store
	// (fleetsession.go). Set once, before the claim.
	at time.Time
	// stored is set once the fleet's store may hold the session: saved,
	// or resumed from there; moved once another node took it over.
	stored, moved atomic.Bool

	mu      sync.Mutex
	ended   *broker.Refusal // why End was called: the session is on its way out
	offline bool            // the connection is gone; mochi keeps the session
	pending *broker.Refusal // why, when End came before CONNACK was sent
	timer   *time.Timer     // fires at the token's deadline, or when mochi forgets an offline session
}

// newSession is the session of client cl, authorised by g.
func newSession(srv *server, cl *mqtt.Client, g *broker.Grant) *session {
	id := g.ClientID
	if id == "" { // a self-signed token: the client's own id
		id = cl.ID
	}
	return &session{srv: srv, cl: cl, clientID: id, grant: g}
}

// Grant returns the session's grant (broker.Session).
func (s *session) Grant() *broker.Grant { return s.grant }

// canPublish reports whether the token allows publishing to the topic
// name (broker.Grant.CanPublish).
func (s *session) canPublish(name string) bool { return s.grant.CanPublish(name) }

// canSubscribe reports whether the token allows the topic filter
// (broker.Grant.CanSubscribe).
func (s *session) canSubscribe(filter string) bool { return s.grant.CanSubscribe(filter) }

// canReceive reports whether the session may be sent a message published
// to the topic name: canSubscribe, remembering the last name it allowed,
// since a subscriber is mostly sent the same few topics over and over.
// Deliveries to one session may be checked from several goroutines.
func (s *session) canReceive(name string) bool {
	if last := s.received.Load(); last != nil && *last == name {
		return true
	}
	if !s.canSubscribe(name) {
		return false
	}
	remembered := name // a copy, so that only this path allocates
	s.received.Store(&remembered)
	return true
}

// allowPublish takes one token from the session's bucket.
func (s *session) allowPublish(now time.Time, rate float64, burst int) bool {
	return s.bucket.Allow(now, rate, burst)
}

// Schedule arms the session's timer for its token's deadline d,
// replacing any earlier one, so that an expiring token ends its session
// without anyone polling (broker.Session). An offline session keeps its
// own timer: the token that created it is replaced when it resumes.
func (s *session) Schedule(d time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended != nil || s.offline {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !d.IsZero() {
		s.timer = time.AfterFunc(time.Until(d), func() { s.End(broker.RefuseExpired) })
	}
}

// End ends the session for r, once, without blocking: the index calls it
// with its lock held (broker.Session). A connected session gets a
// DISCONNECT, or gets it right after its CONNACK if that is still on its
// way; an offline one is dropped from mochi with its delayed will.
func (s *session) End(r *broker.Refusal) {
	s.mu.Lock()
	if s.ended != nil {
		s.mu.Unlock()
		return
	}
	s.ended = r
	if s.timer != nil {
		s.timer.Stop()
	}
	switch {
	case s.offline:
		s.mu.Unlock()
		s.srv.bg.Go(func() { s.srv.dropOffline(s, r) })
		return
	case !s.established.Load():
		// CONNACK is still on its way: the DISCONNECT follows it. The
		// server's shutdown waits on bg for it before closing connections.
		s.pending = r
		s.srv.bg.Add(1)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.srv.bg.Go(func() { s.disconnect(r) })
}

// disconnected marks the session's connection as gone. It reports
// whether the session stays in the index, offline, for at most keep:
// mochi still holds its state, and it was not ended for its credentials.
func (s *session) disconnected(keep time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil && !s.established.Load() {
		s.pending = nil // never established: nothing will be sent
		s.srv.bg.Done()
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.ended != nil || keep <= 0 {
		if s.ended == nil {
			s.ended = broker.RefuseUnavailable // only marks it ended
		}
		return false
	}
	s.offline = true
	s.timer = time.AfterFunc(keep, func() { s.srv.forget(s) })
	return true
}

// endedFor returns why the session was ended, nil if it was not.
func (s *session) endedFor() *broker.Refusal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// establishedNow marks the CONNACK as sent, and sends a DISCONNECT that
// was waiting for it.
func (s *session) establishedNow() {
	s.mu.Lock()
	s.established.Store(true)
	pending := s.pending
	s.mu.Unlock()
	if pending != nil {
		s.disconnect(pending)
		s.srv.bg.Done()
	}
}

// disconnectWriteTimeout bounds the write of a DISCONNECT to a client
// that does not read: mochi's DisconnectClient gives it at most a second.
const disconnectWriteTimeout = time.Second

// disconnect sends the DISCONNECT for r and closes the connection.
func (s *session) disconnect(r *broker.Refusal) {
	code, keepWill := disconnectCode(r)
	s.srv.m.disconnected(string(r.Reason))
	s.srv.log.Info("disconnecting client", "client_id", s.clientID, "jti", s.grant.JTI, "reason", r.Reason, "code", code.Code)
	if !keepWill {
		atomic.StoreUint32(&s.cl.Properties.Will.Flag, 0)
	}
	// DisconnectClient bounds the DISCONNECT's write itself, and does not
	// wait on a write already blocked (a client that stopped reading).
	_ = s.srv.mochi.DisconnectClient(s.cl, code)
}
