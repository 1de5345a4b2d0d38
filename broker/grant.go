package broker

import (
	"errors"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/pkg/token"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// MaxTokenLen is the longest token a node accepts, as an MQTT password or
// an HTTP bearer token: ours are a few hundred bytes.
const MaxTokenLen = 4096

// Grant is a token verified for one broker: who it names and what it
// allows, its ACLs compiled once. It is immutable, so the checks that run
// for every PUBLISH, SUBSCRIBE and delivery take no lock and allocate
// nothing. The MQTT node and the HTTP edge both authorise with it; the
// protocol only decides how a refusal is written.
type Grant struct {
	BrokerID string
	ClientID string // the token's sub
	JTI      string
	KID      string
	// IssuedAt and ExpiresAt are the token's iat and exp in Unix seconds;
	// ExpiresAt is 0 for a token without exp.
	IssuedAt, ExpiresAt int64

	topicACL *topic.ACL // both directions
	pubACL   *topic.ACL // narrows publishing; nil: no narrowing
	subACL   *topic.ACL // narrows subscribing; nil: no narrowing

	// selfSigned marks a grant of a self-signed (fastly-style HS256)
	// token: KID names one of the broker's SelfSigned keys, ClientID is
	// empty (the client keeps the id it sends), and leeway is the
	// broker's SelfSignedLeeway when it was verified.
	selfSigned bool
	leeway     time.Duration
	// exact is set for a self-signed token read as fastly does (not
	// FastlyWildcards): x-fastly-write and x-fastly-read are sets of
	// topic names matched exactly, case-sensitively.
	exact              bool
	pubNames, subNames map[string]struct{}
	// tokenID names a self-signed token without jti: its signature.
	tokenID string
}

// Authenticate verifies tok for broker b at now, with leeway for clock
// skew on exp, iat and nbf. It checks, in this order: that a token is
// there and not oversized, its signature by one of b's keys, its
// audience, its times, that its jti is not revoked, that it is not older
// than b's expiration allows, and that its ACLs compile. The refusal
// names the first rule the token breaks.
func Authenticate(b *Broker, tok string, now time.Time, leeway time.Duration) (*Grant, *Refusal) {
	switch {
	case strings.TrimSpace(tok) == "":
		return nil, RefuseNoToken
	case len(tok) > MaxTokenLen:
		return nil, RefuseTokenTooLong
	}
	u, err := token.Parse(tok)
	if err != nil {
		var te *token.Error
		if b.SelfSigned != nil && errors.As(err, &te) && te.Reason == token.ReasonAlgorithm {
			return authenticateSelfSigned(b, tok, now)
		}
		return nil, TokenRefusal(err)
	}
	c, err := u.Verify(b.Keys, b.Hostname, now, leeway)
	if err != nil {
		return nil, TokenRefusal(err)
	}
	g, err := NewGrant(b, c, u.KeyID())
	if err != nil {
		return nil, RefuseBadACL
	}
	if r := g.Valid(b, now); r != nil {
		return nil, r
	}
	return g, nil
}

// TokenRefusal maps a pkg/token error to its refusal; its message never
// repeats the token.
func TokenRefusal(err error) *Refusal {
	var te *token.Error
	if errors.As(err, &te) {
		return &Refusal{Reason: Reason(te.Reason), Message: te.Message}
	}
	return RefuseMalformed
}

// Valid checks again what a change of b's configuration can take away
// from a grant verified earlier: its jti revoked, its key removed, or b's
// expiration lowered below its age. nil means the grant still stands.
// Token expiry is not checked here: Deadline schedules it.
func (g *Grant) Valid(b *Broker, now time.Time) *Refusal {
	switch {
	case b == nil:
		return RefuseUnavailable
	case g.JTI != "" && b.Revoked(g.JTI):
		return RefuseRevoked
	case !b.HasKey(g):
		return RefuseKeyRemoved
	case g.selfSigned && g.exact == b.FastlyWildcards:
		return RefuseSelfSignedChanged
	case g.tooOld(b, now):
		return RefuseTooOld
	}
	return nil
}

// allACL is the compiled ["#"], which nearly every token carries.
var allACL, _ = topic.NewACL([]string{"#"})

// compileACL compiles an ACL claim, sharing the common ["#"].
func compileACL(filters []string) (*topic.ACL, error) {
	if len(filters) == 1 && filters[0] == "#" {
		return allACL, nil
	}
	return topic.NewACL(filters)
}

// NewGrant builds the grant of claims already verified for broker b; it
// fails when their ACLs do not compile.
func NewGrant(b *Broker, c *token.Claims, kid string) (*Grant, error) {
	g := &Grant{BrokerID: b.ID, ClientID: c.Subject, JTI: c.ID, KID: kid, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}
	var err error
	if g.topicACL, err = compileACL(c.TopicACL); err != nil {
		return nil, err
	}
	if c.PublishACL != nil {
		if g.pubACL, err = compileACL(c.PublishACL); err != nil {
			return nil, err
		}
	}
	if c.SubscribeACL != nil {
		if g.subACL, err = compileACL(c.SubscribeACL); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// RefuseSelfSignedAlgorithm is the refusal of a token that is neither
// ours nor self-signed, on a broker that accepts both.
var RefuseSelfSignedAlgorithm = &Refusal{Reason(token.ReasonAlgorithm), "token algorithm must be EdDSA, or HS256 for a self-signed token"}

// authenticateSelfSigned is Authenticate for a token that is not ours,
// on a broker with self-signed tokens enabled: fastly/pubsub's HS256
// tokens, verified with the broker's SelfSigned keys and leeway.
func authenticateSelfSigned(b *Broker, tok string, now time.Time) (*Grant, *Refusal) {
	c, err := token.VerifyHS256(tok, b.SelfSigned, now, b.SelfSignedLeeway)
	if err != nil {
		var te *token.Error
		if errors.As(err, &te) && te.Reason == token.ReasonAlgorithm {
			return nil, RefuseSelfSignedAlgorithm
		}
		return nil, TokenRefusal(err)
	}
	g, err := NewSelfSignedGrant(b, c)
	if err != nil {
		return nil, RefuseBadACL
	}
	if g.JTI == "" {
		g.tokenID = "hs256:" + tok[strings.LastIndexByte(tok, '.')+1:]
	}
	if r := g.Valid(b, now); r != nil {
		return nil, r
	}
	return g, nil
}

// NewSelfSignedGrant builds the grant of a self-signed token verified for
// broker b: x-fastly-write allows publishing and x-fastly-read
// subscribing, as exact topic names, or as MQTT filters when b has
// FastlyWildcards (then they must compile).
func NewSelfSignedGrant(b *Broker, c *token.SelfSigned) (*Grant, error) {
	g := &Grant{BrokerID: b.ID, JTI: c.ID, KID: c.KeyID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt,
		selfSigned: true, leeway: b.SelfSignedLeeway, topicACL: allACL}
	if !b.FastlyWildcards {
		g.exact = true
		g.pubNames, g.subNames = nameSet(c.Write), nameSet(c.Read)
		return g, nil
	}
	var err error
	if g.pubACL, err = compileACL(orEmpty(c.Write)); err != nil {
		return nil, err
	}
	if g.subACL, err = compileACL(orEmpty(c.Read)); err != nil {
		return nil, err
	}
	return g, nil
}

func nameSet(names []string) map[string]struct{} {
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}

// orEmpty makes an absent claim an empty ACL, which allows nothing, as a
// nil one would allow everything.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// TokenID names the grant's token for per-token limits: its jti, or for
// a self-signed token without one, its signature, so that such tokens do
// not share one bucket.
func (g *Grant) TokenID() string {
	if g.JTI == "" {
		return g.tokenID
	}
	return g.JTI
}

// SelfSigned reports whether the grant is of a self-signed token.
func (g *Grant) SelfSigned() bool { return g.selfSigned }

// CanPublish reports whether the grant allows publishing to the topic
// name. No client may publish to a $ topic: they belong to the server.
func (g *Grant) CanPublish(name string) bool {
	if len(name) == 0 || name[0] == '$' {
		return false
	}
	if g.exact {
		_, ok := g.pubNames[name]
		return ok
	}
	return g.topicACL.AllowsTopic(name) && (g.pubACL == nil || g.pubACL.AllowsTopic(name))
}

// CanSubscribe reports whether the grant allows the topic filter, which
// means every topic it can match; a topic name is a filter without
// wildcards, so deliveries are checked with it too. A shared subscription
// ($share/<group>/<filter>, lower case only, as MQTT v5 §4.8.2 has it) is
// judged by its inner filter. $SYS is refused whatever the ACL says, also
// inside a shared subscription: it would show the node's internals.
func (g *Grant) CanSubscribe(filter string) bool {
	inner := filter
	if _, f, ok := topic.SplitShared(filter); ok {
		inner = f
	}
	if len(inner) >= 4 && strings.EqualFold(inner[:4], "$SYS") {
		return false
	}
	if g.exact {
		// Exact names: a wildcard filter is refused even when a claim
		// holds it literally, since it would match other topics.
		if strings.ContainsAny(inner, "+#") {
			return false
		}
		_, ok := g.subNames[inner]
		return ok
	}
	return g.topicACL.AllowsFilter(filter) && (g.subACL == nil || g.subACL.AllowsFilter(filter))
}

// Deadline returns when the grant stops being valid on broker b: its exp
// plus leeway (a self-signed token's own leeway instead), or its iat plus
// b's expiration, whichever comes first; zero for never.
func (g *Grant) Deadline(b *Broker, leeway time.Duration) time.Time {
	if g.selfSigned {
		leeway = g.leeway
	}
	var d time.Time
	if g.ExpiresAt > 0 {
		d = time.Unix(g.ExpiresAt, 0).Add(leeway)
	}
	if b.Expiration > 0 && !(g.selfSigned && g.IssuedAt == 0) {
		if e := time.Unix(g.IssuedAt, 0).Add(b.Expiration); d.IsZero() || e.Before(d) {
			d = e
		}
	}
	return d
}

// tooOld is b.TooOld for the grant's iat. A self-signed token without
// iat has no age: only its exp, if any, limits it.
func (g *Grant) tooOld(b *Broker, now time.Time) bool {
	if g.selfSigned && g.IssuedAt == 0 {
		return false
	}
	return b.TooOld(g.IssuedAt, now)
}

// CleanToken strips what copy-pasting brings along around a token, in an
// MQTT password or an HTTP header alike: spaces, and the JSON quotes that
// `jq` without -r leaves.
func CleanToken(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}
