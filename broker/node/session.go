package node

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/token"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// session is one authenticated connection: what its token grants,
// compiled once at CONNECT, and what enforcement needs to end it. The
// ACL fields are immutable, so the checks every PUBLISH, SUBSCRIBE and
// delivery run need no lock.
type session struct {
	srv      *server
	cl       *mqtt.Client
	clientID string
	jti      string
	kid      string
	iat, exp int64

	topicACL *topic.ACL // both directions
	pubACL   *topic.ACL // narrows publishing; nil: no narrowing
	subACL   *topic.ACL // narrows subscribing; nil: no narrowing

	// received is the last topic name canReceive allowed.
	received atomic.Pointer[string]

	// The message rate limiter, used only by the client's read goroutine.
	tokens float64
	last   time.Time

	established atomic.Bool

	mu      sync.Mutex
	ended   bool          // end was called: the session is on its way out
	pending *disconnectAs // why, when end came before CONNACK was sent
	timer   *time.Timer   // fires at the token's deadline
}

// disconnectAs is a DISCONNECT to send, the reason to count it under, and
// whether the client's will is still published.
type disconnectAs struct {
	code     packets.Code
	reason   string
	keepWill bool
}

// The disconnections enforcement and limits cause.
var (
	dcRevoked      = disconnectAs{packets.Code{Code: 0x87, Reason: "token has been revoked"}, "revoked", false}
	dcKeyRemoved   = disconnectAs{packets.Code{Code: 0x87, Reason: "the key that signed the token has been removed"}, "key_removed", false}
	dcDeleted      = disconnectAs{packets.Code{Code: 0x98, Reason: "broker has been deleted"}, "broker_deleted", false}
	dcTooOld       = disconnectAs{packets.Code{Code: 0x98, Reason: "token is older than the broker's expiration now allows"}, "broker_expiration", false}
	dcExpired      = disconnectAs{packets.Code{Code: 0xA0, Reason: "token has expired"}, "token_expired", false}
	dcTooLarge     = disconnectAs{packets.Code{Code: 0x95, Reason: "packet too large"}, "packet_too_large", true}
	dcRate         = disconnectAs{packets.Code{Code: 0x96, Reason: "message rate too high"}, "message_rate", true}
	dcShuttingDown = disconnectAs{packets.Code{Code: 0x8B, Reason: "server shutting down"}, "shutdown", true}
)

// allACL is the compiled ["#"], which nearly every token carries.
var allACL, _ = topic.NewACL([]string{"#"})

// compileACL compiles an ACL claim, sharing the common ["#"].
func compileACL(filters []string) (*topic.ACL, error) {
	if len(filters) == 1 && filters[0] == "#" {
		return allACL, nil
	}
	return topic.NewACL(filters)
}

// newSession compiles the claims of a verified token.
func newSession(srv *server, cl *mqtt.Client, c *token.Claims, kid string) (*session, error) {
	s := &session{srv: srv, cl: cl, clientID: c.Subject, jti: c.ID, kid: kid, iat: c.IssuedAt, exp: c.ExpiresAt}
	var err error
	if s.topicACL, err = compileACL(c.TopicACL); err != nil {
		return nil, err
	}
	if c.PublishACL != nil {
		if s.pubACL, err = compileACL(c.PublishACL); err != nil {
			return nil, err
		}
	}
	if c.SubscribeACL != nil {
		if s.subACL, err = compileACL(c.SubscribeACL); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// canPublish reports whether the token allows publishing to the topic
// name. No client may publish to a $ topic: they belong to the server.
func (s *session) canPublish(name string) bool {
	if len(name) == 0 || name[0] == '$' {
		return false
	}
	return s.topicACL.AllowsTopic(name) && (s.pubACL == nil || s.pubACL.AllowsTopic(name))
}

// canSubscribe reports whether the token allows the topic filter, which
// means every topic the filter can match; deliveries are checked with it
// too, a topic name being a filter without wildcards. $SYS is refused
// whatever the ACL says: it would show the node's internals.
func (s *session) canSubscribe(filter string) bool {
	if len(filter) >= 4 && strings.EqualFold(filter[:4], "$SYS") {
		return false
	}
	return s.topicACL.AllowsFilter(filter) && (s.subACL == nil || s.subACL.AllowsFilter(filter))
}

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
	if s.last.IsZero() {
		s.tokens = float64(burst)
	} else {
		s.tokens = min(float64(burst), s.tokens+now.Sub(s.last).Seconds()*rate)
	}
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// deadline returns when the session's token stops being valid on broker
// b: its exp (plus leeway, as at CONNECT) or its iat plus the broker's
// expiration, whichever comes first; zero for never.
func (s *session) deadline(b *broker.Broker, leeway time.Duration) time.Time {
	var d time.Time
	if s.exp > 0 {
		d = time.Unix(s.exp, 0).Add(leeway)
	}
	if b.Expiration > 0 {
		if e := time.Unix(s.iat, 0).Add(b.Expiration); d.IsZero() || e.Before(d) {
			d = e
		}
	}
	return d
}

// schedule arms the session's timer for deadline d, replacing any
// earlier one, so that an expiring token ends its session without anyone
// polling.
func (s *session) schedule(d time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if !d.IsZero() {
		s.timer = time.AfterFunc(time.Until(d), func() { s.end(dcExpired) })
	}
}

// end ends the session with a DISCONNECT, once, without blocking: it is
// called with the server's lock held. A session that has not been sent
// its CONNACK yet is ended right after it is.
func (s *session) end(why disconnectAs) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if !s.established.Load() {
		// CONNACK is still on its way: the DISCONNECT follows it. The
		// server's shutdown waits on bg for it before closing connections.
		s.pending = &why
		s.srv.bg.Add(1)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.srv.bg.Go(func() { s.disconnect(why) })
}

// stop disarms the session once its connection is gone.
func (s *session) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending != nil && !s.established.Load() {
		s.pending = nil // never established: nothing will be sent
		s.srv.bg.Done()
	}
	s.ended = true
	if s.timer != nil {
		s.timer.Stop()
	}
}

// establishedNow marks the CONNACK as sent, sends a DISCONNECT that was
// waiting for it, or else arms the deadline timer.
func (s *session) establishedNow(b *broker.Broker, leeway time.Duration) {
	s.mu.Lock()
	s.established.Store(true)
	pending := s.pending
	s.mu.Unlock()
	if pending != nil {
		s.disconnect(*pending)
		s.srv.bg.Done()
		return
	}
	if b != nil {
		s.schedule(s.deadline(b, leeway))
	}
}

// disconnectWriteTimeout bounds the write of a DISCONNECT to a client
// that does not read: mochi's DisconnectClient gives it at most a second.
const disconnectWriteTimeout = time.Second

// disconnect sends the DISCONNECT and closes the connection. A session
// ended for its credentials does not get its will published: the will
// would be a message sent on the authority of a token that no longer has
// any. Protocol violations and shutdown keep it, as MQTT specifies.
func (s *session) disconnect(why disconnectAs) {
	s.srv.m.disconnected(why.reason)
	s.srv.log.Info("disconnecting client", "client_id", s.clientID, "jti", s.jti, "reason", why.reason, "code", why.code.Code)
	if !why.keepWill {
		atomic.StoreUint32(&s.cl.Properties.Will.Flag, 0)
	}
	// DisconnectClient bounds the DISCONNECT's write itself, and does not
	// wait on a write already blocked (a client that stopped reading).
	_ = s.srv.mochi.DisconnectClient(s.cl, why.code)
}
