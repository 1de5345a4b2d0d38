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
	case b.Revoked(g.JTI):
		return RefuseRevoked
	case b.Keys[g.KID] == nil:
		return RefuseKeyRemoved
	case b.TooOld(g.IssuedAt, now):
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

// CanPublish reports whether the grant allows publishing to the topic
// name. No client may publish to a $ topic: they belong to the server.
func (g *Grant) CanPublish(name string) bool {
	if len(name) == 0 || name[0] == '$' {
		return false
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
	return g.topicACL.AllowsFilter(filter) && (g.subACL == nil || g.subACL.AllowsFilter(filter))
}

// Deadline returns when the grant stops being valid on broker b: its exp
// plus leeway, or its iat plus b's expiration, whichever comes first;
// zero for never.
func (g *Grant) Deadline(b *Broker, leeway time.Duration) time.Time {
	var d time.Time
	if g.ExpiresAt > 0 {
		d = time.Unix(g.ExpiresAt, 0).Add(leeway)
	}
	if b.Expiration > 0 {
		if e := time.Unix(g.IssuedAt, 0).Add(b.Expiration); d.IsZero() || e.Before(d) {
			d = e
		}
	}
	return d
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
