package broker

import (
	"sync"
	"time"
)

// Session is what Sessions enforces the configuration on: an MQTT
// session (connected, or kept offline for a later resume), an SSE stream.
type Session interface {
	// Grant returns the session's grant; it does not change.
	Grant() *Grant
	// End ends the session for r, once. It is called with the index's
	// lock held, so it must not block nor call back into the index.
	End(r *Refusal)
	// Schedule arms the end of the session at its token's deadline d
	// (zero: none), replacing an earlier one. Called with the lock held.
	Schedule(d time.Time)
}

// Sessions is the index of one broker's sessions on a node, by jti and
// by key id, so that a revocation or a key removal ends exactly the
// sessions it concerns without a scan, whatever protocol they speak. Its
// zero value is ready to use; it is safe for concurrent use.
type Sessions struct {
	mu     sync.Mutex
	closed *Refusal
	all    map[Session]struct{}
	byJTI  jtiIndex
	byKID  map[string]map[Session]struct{}
}

// jtiIndex holds the sessions of each jti. A jti almost always has one
// session (a token per device), kept in one map entry; a set of its own
// for each, as byKID has, was about 400 bytes per connection. Only the
// sessions beyond a jti's first get a set. Every jti in more is in one.
type jtiIndex struct {
	one  map[string]Session
	more map[string]map[Session]struct{}
}

func (j *jtiIndex) add(jti string, s Session) {
	if _, ok := j.one[jti]; !ok {
		j.one[jti] = s
		return
	}
	addTo(j.more, jti, s)
}

func (j *jtiIndex) remove(jti string, s Session) {
	if j.one[jti] != s {
		removeFrom(j.more, jti, s)
		return
	}
	for next := range j.more[jti] {
		j.one[jti] = next
		removeFrom(j.more, jti, next)
		return
	}
	delete(j.one, jti)
}

// endAll ends every session of jti with r.
func (j *jtiIndex) endAll(jti string, r *Refusal) {
	if s, ok := j.one[jti]; ok {
		s.End(r)
		endAll(j.more[jti], r)
	}
}

// Register adds s to the index, unless the broker's current
// configuration, which current loads under the index's lock, refuses its
// grant: the configuration may have changed since the token was verified.
// Enforce takes the same lock, so either Register sees the new
// configuration or Enforce sees s. After Close, every registration is
// refused with Close's reason. A session registered has its deadline
// scheduled, with leeway on exp.
func (x *Sessions) Register(s Session, current func() *Broker, now time.Time, leeway time.Duration) *Refusal {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed != nil {
		return x.closed
	}
	g := s.Grant()
	b := current()
	if r := g.Valid(b, now); r != nil {
		if r == RefuseKeyRemoved {
			// At CONNECT, a key that is gone is a key the token does not
			// know, as if Verify had not found it.
			return &Refusal{ReasonUnknownKey, "token key id is not a key of this broker"}
		}
		return r
	}
	if x.all == nil {
		x.all = map[Session]struct{}{}
		x.byJTI = jtiIndex{one: map[string]Session{}, more: map[string]map[Session]struct{}{}}
		x.byKID = map[string]map[Session]struct{}{}
	}
	x.all[s] = struct{}{}
	x.byJTI.add(g.JTI, s)
	addTo(x.byKID, keyRef(g), s)
	s.Schedule(g.Deadline(b, leeway))
	return nil
}

// Unregister removes s from the index; removing it twice is harmless.
func (x *Sessions) Unregister(s Session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.all[s]; !ok {
		return
	}
	g := s.Grant()
	delete(x.all, s)
	x.byJTI.remove(g.JTI, s)
	removeFrom(x.byKID, keyRef(g), s)
}

// Len returns the number of sessions in the index.
func (x *Sessions) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.all)
}

// keyRef is the byKID entry of g's key: its kid, prefixed for a
// self-signed key, whose ids live in another namespace than ours.
func keyRef(g *Grant) string {
	if g.selfSigned {
		return "hs256:" + g.KID
	}
	return g.KID
}

func addTo(idx map[string]map[Session]struct{}, key string, s Session) {
	set := idx[key]
	if set == nil {
		set = map[Session]struct{}{}
		idx[key] = set
	}
	set[s] = struct{}{}
}

func removeFrom(idx map[string]map[Session]struct{}, key string, s Session) {
	if set := idx[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(idx, key)
		}
	}
}

// Enforce ends the sessions that broker nb no longer accepts, when the
// broker changed from ob (nil: not known before): revoked jti, removed
// key (self-signed tokens disabled included), expiration lowered below a
// token's age, fastly_wildcards switched for self-signed tokens. When the expiration
// changed, the others' deadlines are rescheduled, with leeway on exp.
// Revocation costs the smaller of the indexed jtis and the revocations,
// never a scan of every session.
func (x *Sessions) Enforce(ob, nb *Broker, now time.Time, leeway time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.byJTI.one) <= nb.Revocations() {
		for jti := range x.byJTI.one {
			if nb.Revoked(jti) {
				x.byJTI.endAll(jti, RefuseRevoked)
			}
		}
	} else {
		for jti := range nb.RevokedIDs() {
			x.byJTI.endAll(jti, RefuseRevoked)
		}
	}
	for _, set := range x.byKID {
		for s := range set {
			// Every session of a set shares its key: one check decides.
			if !nb.HasKey(s.Grant()) {
				endAll(set, RefuseKeyRemoved)
			}
			break
		}
	}
	if ob != nil && ob.FastlyWildcards != nb.FastlyWildcards {
		for s := range x.all {
			if g := s.Grant(); g.selfSigned && g.exact == nb.FastlyWildcards {
				s.End(RefuseSelfSignedChanged)
			}
		}
	}
	if ob == nil || ob.Expiration != nb.Expiration {
		for s := range x.all {
			g := s.Grant()
			if g.tooOld(nb, now) {
				s.End(RefuseTooOld)
			} else {
				s.Schedule(g.Deadline(nb, leeway))
			}
		}
	}
}

func endAll(set map[Session]struct{}, r *Refusal) {
	for s := range set {
		s.End(r)
	}
}

// Close ends every session with r and refuses every later registration
// with it. It returns at once: ending is each session's own work.
func (x *Sessions) Close(r *Refusal) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed != nil {
		return
	}
	x.closed = r
	for s := range x.all {
		s.End(r)
	}
}
