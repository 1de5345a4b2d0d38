package broker

import (
	"crypto/ed25519"
	"iter"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// State is an immutable snapshot of every broker a node serves, built from
// the config feed. A nil *State is valid and empty: a node that has not
// heard from the control plane yet serves no broker.
//
// States are never modified. Apply returns a new State that shares the
// untouched *Broker values with the old one, so a reader holding a State
// sees one consistent revision, and a node finds the brokers an update
// touched by comparing pointers.
type State struct {
	revision int64
	idx      *index
	tickets  *TicketKeys // nil: the control plane sent none
}

// index is the part of a State that pings do not change, so that a ping
// costs one small allocation rather than a copy of every map.
type index struct {
	byID   map[string]*Broker
	byHost map[string]*Broker // keyed by the lower-cased hostname
}

// Broker is one Pub/Sub broker as a node sees it. It is shared between
// States and must be treated as read-only, including its Keys map.
type Broker struct {
	ID        string
	Name      string
	Namespace string
	// Hostname is the TLS SNI name of the broker and the aud claim of its
	// tokens, as the control plane wrote it. Lookups ignore case.
	Hostname string
	// Expiration caps the age of any token (now - iat); 0 means none.
	// Lowering it shortens the life of tokens already issued. It is at
	// most token.MaxLifetime, so iat plus Expiration never overflows.
	Expiration time.Duration
	// OnPublishURL is the on-publish webhook; "" when unset.
	OnPublishURL string
	// HookKID and HookKey sign the on-publish hook's requests: the key's
	// public half is in the broker's JWKS under HookKID. Set whenever
	// OnPublishURL is.
	HookKID string
	HookKey ed25519.PrivateKey
	// OnPublish are the hook's optional settings; nil for the defaults.
	// Shared between States: read-only.
	OnPublish *feed.OnPublish
	// Keys verifies the broker's tokens: current, next and retired keys
	// alike, since a retired key still vouches for the tokens it signed
	// until an operator deletes it.
	Keys token.Keys
	// SelfSigned verifies the broker's self-signed (fastly-style HS256)
	// tokens; nil unless the broker enables them.
	SelfSigned token.HMACKeys
	// FastlyWildcards reads a self-signed token's x-fastly-read and
	// x-fastly-write as MQTT topic filters, not exact topic names.
	FastlyWildcards bool
	// SelfSignedLeeway is the clock tolerance on self-signed tokens.
	SelfSignedLeeway time.Duration

	// sealed holds the self-signed keys' secrets as the feed sealed them,
	// by kid: what Snapshot writes to disk instead of the secrets.
	sealed map[string]string
	// sealedHook is HookKey's seed as the feed sealed it.
	sealedHook string

	// revoked maps a revoked jti to the expiry of its token (Unix
	// seconds, 0 for none).
	revoked map[string]int64
}

// Revoked reports whether the token with this jti is revoked.
func (b *Broker) Revoked(jti string) bool {
	_, ok := b.revoked[jti]
	return ok
}

// Revocations returns how many tokens of the broker are revoked.
func (b *Broker) Revocations() int { return len(b.revoked) }

// RevokedIDs yields the jti of every revoked token, in no order.
func (b *Broker) RevokedIDs() iter.Seq[string] {
	return func(yield func(string) bool) {
		for jti := range b.revoked {
			if !yield(jti) {
				return
			}
		}
	}
}

// TooOld reports whether a token issued at iat (Unix seconds) is older
// than the broker's Expiration allows at now. Tokens carry their own exp
// as well; this rule is what lets lowering the broker's expiration end
// tokens that were minted under a longer one.
func (b *Broker) TooOld(iat int64, now time.Time) bool {
	return b.Expiration > 0 && time.Unix(iat, 0).Add(b.Expiration).Before(now)
}

// NewState builds a State from a snapshot event. It returns an *Error with
// code EINVALID when the event is not a snapshot or describes an invalid
// broker.
func NewState(snapshot feed.Event) (*State, error) {
	if snapshot.Type != feed.TypeSnapshot {
		return nil, Errorf(EINVALID, "NewState needs a %q event, not %q", feed.TypeSnapshot, snapshot.Type)
	}
	var s *State
	return s.Apply(snapshot)
}

// Revision returns the feed revision the State reflects; 0 for nil.
func (s *State) Revision() int64 {
	if s == nil {
		return 0
	}
	return s.revision
}

// Len returns the number of brokers.
func (s *State) Len() int {
	if s == nil {
		return 0
	}
	return len(s.idx.byID)
}

// Broker returns the broker with the given id, or nil.
func (s *State) Broker(id string) *Broker {
	if s == nil {
		return nil
	}
	return s.idx.byID[id]
}

// BrokerByHostname returns the broker whose hostname equals host ignoring
// case, or nil. Hostnames are unique within a State.
func (s *State) BrokerByHostname(host string) *Broker {
	if s == nil {
		return nil
	}
	if b, ok := s.idx.byHost[host]; ok {
		return b
	}
	return s.idx.byHost[strings.ToLower(host)]
}

// Brokers yields every broker, in no order.
func (s *State) Brokers() iter.Seq[*Broker] {
	return func(yield func(*Broker) bool) {
		if s == nil {
			return
		}
		for _, b := range s.idx.byID {
			if !yield(b) {
				return
			}
		}
	}
}

// Apply returns the State that results from applying evs in order. s is
// not modified, and brokers no event touches are shared with the result.
// Applying several events in one call copies the top-level maps and each
// touched broker at most once, so a config source should pass every event
// it has at hand.
//
// The feed is level-triggered (each event carries the current state of
// what changed), so Apply is idempotent and lenient where the feed
// legitimately races: a revocation change or a deletion for a broker the
// State does not hold is ignored. It returns an *Error with code ESTALE
// for an event older than the State, and EINVALID for an unknown event
// type or an invalid broker; the State is then unchanged.
func (s *State) Apply(evs ...feed.Event) (*State, error) {
	var base *index
	var tickets *TicketKeys
	rev := int64(0)
	if s != nil {
		base, rev, tickets = s.idx, s.revision, s.tickets
	}
	bd := builder{base: base}
	for i := range evs {
		ev := &evs[i]
		switch ev.Type {
		case feed.TypeSnapshot:
			// A snapshot replaces everything, whatever its revision: the
			// control plane sends one when the node is too far behind.
			bd.reset()
			for _, fb := range ev.Brokers {
				if err := bd.put(fb); err != nil {
					return nil, err
				}
			}
			var err error
			if tickets, err = newTicketKeys(ev); err != nil {
				return nil, err
			}
			rev = ev.Revision
			continue
		case feed.TypePing:
			// Revisions advance on changes nodes do not see (namespaces);
			// a ping carries them so the node resumes from the right one.
			rev = max(rev, ev.Revision)
			continue
		}
		if ev.Revision < rev {
			return nil, Errorf(ESTALE, "event %q has revision %d, older than the state's %d", ev.Type, ev.Revision, rev)
		}
		rev = ev.Revision
		switch ev.Type {
		case feed.TypeBroker:
			if ev.Broker == nil {
				return nil, Errorf(EINVALID, "broker event at revision %d has no broker", ev.Revision)
			}
			if err := bd.put(*ev.Broker); err != nil {
				return nil, err
			}
		case feed.TypeBrokerDeleted:
			bd.delete(ev.BrokerID)
		case feed.TypeTicketKeys:
			// An empty set keeps the keys the node has: a node cannot go
			// back to keys of its own without ending every ticket anyway.
			tk, err := newTicketKeys(ev)
			if err != nil {
				return nil, err
			}
			if tk != nil {
				tickets = tk
			}
		case feed.TypeRevoked, feed.TypeUnrevoked:
			if ev.Revocation == nil || ev.Revocation.JTI == "" {
				return nil, Errorf(EINVALID, "%s event at revision %d has no jti", ev.Type, ev.Revision)
			}
			b := bd.mutable(ev.BrokerID)
			if b == nil {
				continue
			}
			if ev.Type == feed.TypeRevoked {
				b.revoked[ev.Revocation.JTI] = ev.Revocation.ExpiresAt
			} else {
				delete(b.revoked, ev.Revocation.JTI)
			}
		default:
			return nil, Errorf(EINVALID, "unknown event type %q at revision %d", ev.Type, ev.Revision)
		}
	}
	return &State{revision: rev, idx: bd.index(), tickets: tickets}, nil
}

// builder assembles the index of a new State, copying the base's maps on
// the first change and each broker on its first modification.
type builder struct {
	base  *index
	next  *index
	owned map[*Broker]bool // brokers created by this builder, safe to modify
}

func (bd *builder) index() *index {
	switch {
	case bd.next != nil:
		return bd.next
	case bd.base != nil:
		return bd.base
	}
	return &index{byID: map[string]*Broker{}, byHost: map[string]*Broker{}}
}

func (bd *builder) reset() {
	bd.base = nil
	bd.next = &index{byID: map[string]*Broker{}, byHost: map[string]*Broker{}}
	bd.owned = map[*Broker]bool{}
}

func (bd *builder) writable() *index {
	if bd.next == nil {
		old := bd.index()
		bd.next = &index{byID: make(map[string]*Broker, len(old.byID)+1), byHost: make(map[string]*Broker, len(old.byHost)+1)}
		for k, v := range old.byID {
			bd.next.byID[k] = v
		}
		for k, v := range old.byHost {
			bd.next.byHost[k] = v
		}
		bd.owned = map[*Broker]bool{}
	}
	return bd.next
}

func (bd *builder) put(fb feed.Broker) error {
	b, err := newBroker(fb)
	if err != nil {
		return err
	}
	idx := bd.writable()
	host := strings.ToLower(b.Hostname)
	if other := idx.byHost[host]; other != nil && other.ID != b.ID {
		return Errorf(EINVALID, "brokers %s and %s share the hostname %q", other.ID, b.ID, b.Hostname)
	}
	if old := idx.byID[b.ID]; old != nil {
		delete(idx.byHost, strings.ToLower(old.Hostname))
	}
	idx.byID[b.ID] = b
	idx.byHost[host] = b
	bd.owned[b] = true
	return nil
}

func (bd *builder) delete(id string) {
	if bd.index().byID[id] == nil {
		return
	}
	idx := bd.writable()
	b := idx.byID[id]
	delete(idx.byID, id)
	delete(idx.byHost, strings.ToLower(b.Hostname))
}

// mutable returns a broker this builder may modify, copying it first if
// it is shared with an older State; nil when there is no such broker.
func (bd *builder) mutable(id string) *Broker {
	b := bd.index().byID[id]
	if b == nil {
		return nil
	}
	if bd.owned[b] {
		return b
	}
	idx := bd.writable()
	cp := *b
	cp.revoked = make(map[string]int64, len(b.revoked)+1)
	for k, v := range b.revoked {
		cp.revoked[k] = v
	}
	idx.byID[id] = &cp
	idx.byHost[strings.ToLower(cp.Hostname)] = &cp
	bd.owned[&cp] = true
	return &cp
}

// expiration turns a feed broker's expiration, in seconds, into the age
// cap of its tokens. A value over token.MaxLifetime, which the control
// plane no longer sends, is read as that limit: multiplied out, it would
// overflow time.Duration and wrap to a negative or small cap, and a
// broker that asked for a long cap must never end up with none.
func expiration(secs int64) time.Duration {
	if secs > int64(token.MaxLifetime/time.Second) {
		return token.MaxLifetime
	}
	return time.Duration(secs) * time.Second
}

// maxSelfSignedLeeway bounds the clock tolerance on self-signed tokens, in
// seconds: a day.
const maxSelfSignedLeeway = 86400

// HasKey reports whether the key that signed g still verifies the
// broker's tokens: an Ed25519 key for our tokens, a self-signed key
// (while self-signed tokens stay enabled) for the others.
func (b *Broker) HasKey(g *Grant) bool {
	if g.selfSigned {
		return b.SelfSigned[g.KID] != nil
	}
	return b.Keys[g.KID] != nil
}

// newBroker validates a feed broker and compiles its keys.
func newBroker(fb feed.Broker) (*Broker, error) {
	switch {
	case fb.ID == "":
		return nil, Errorf(EINVALID, "broker %q has no id", fb.Hostname)
	case fb.Hostname == "" || strings.ContainsAny(fb.Hostname, " \t\r\n/"):
		return nil, Errorf(EINVALID, "broker %s has an invalid hostname %q", fb.ID, fb.Hostname)
	case fb.Expiration < 0:
		return nil, Errorf(EINVALID, "broker %s has a negative expiration", fb.ID)
	}
	b := &Broker{
		ID:           fb.ID,
		Name:         fb.Name,
		Namespace:    fb.Namespace,
		Hostname:     fb.Hostname,
		Expiration:   expiration(fb.Expiration),
		OnPublishURL: fb.OnPublishURL,
		Keys:         make(token.Keys, len(fb.Keys)),
		revoked:      make(map[string]int64, len(fb.Revocations)),
	}
	for _, k := range fb.Keys {
		jwk := token.JWK{Kty: "OKP", Crv: "Ed25519", Kid: k.ID, X: k.X}
		pub, err := jwk.PublicKey()
		if err != nil {
			return nil, Errorf(EINVALID, "broker %s key %q: %v", fb.ID, k.ID, err)
		}
		if _, dup := b.Keys[k.ID]; dup {
			return nil, Errorf(EINVALID, "broker %s lists key %q twice", fb.ID, k.ID)
		}
		b.Keys[k.ID] = pub
	}
	if fb.SelfSignedTokens {
		if fb.SelfSignedLeeway < 0 || fb.SelfSignedLeeway > maxSelfSignedLeeway {
			return nil, Errorf(EINVALID, "broker %s has a self-signed token leeway of %d s, outside 0 to %d", fb.ID, fb.SelfSignedLeeway, maxSelfSignedLeeway)
		}
		b.FastlyWildcards = fb.FastlyWildcards
		b.SelfSignedLeeway = token.FastlyLeeway
		if fb.SelfSignedLeeway > 0 {
			b.SelfSignedLeeway = time.Duration(fb.SelfSignedLeeway) * time.Second
		}
		b.SelfSigned = make(token.HMACKeys, len(fb.HMACKeys))
		b.sealed = make(map[string]string, len(fb.HMACKeys))
		for _, k := range fb.HMACKeys {
			switch {
			case k.ID == "":
				return nil, Errorf(EINVALID, "broker %s has a self-signed key without id", fb.ID)
			case len(k.Secret) == 0:
				return nil, Errorf(EINVALID, "broker %s self-signed key %q has no secret: it was not opened with the node token", fb.ID, k.ID)
			}
			if _, dup := b.SelfSigned[k.ID]; dup {
				return nil, Errorf(EINVALID, "broker %s lists self-signed key %q twice", fb.ID, k.ID)
			}
			b.SelfSigned[k.ID] = k.Secret
			b.sealed[k.ID] = k.Sealed
		}
	}
	if fb.OnPublishURL != "" {
		switch k := fb.HookKey; {
		case k == nil || k.ID == "":
			return nil, Errorf(EINVALID, "broker %s has an on-publish URL but no hook signing key", fb.ID)
		case len(k.Secret) != ed25519.SeedSize:
			return nil, Errorf(EINVALID, "broker %s hook signing key %q has no secret: it was not opened with the node token", fb.ID, k.ID)
		}
		b.HookKID, b.HookKey, b.sealedHook = fb.HookKey.ID, ed25519.NewKeyFromSeed(fb.HookKey.Secret), fb.HookKey.Sealed
		b.OnPublish = fb.OnPublish
	}
	for _, r := range fb.Revocations {
		if r.JTI == "" {
			return nil, Errorf(EINVALID, "broker %s has a revocation without jti", fb.ID)
		}
		b.revoked[r.JTI] = r.ExpiresAt
	}
	return b, nil
}
