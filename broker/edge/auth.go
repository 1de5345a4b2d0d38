package edge

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/token"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// maxTokenLen is the longest token accepted, as for the MQTT password.
const maxTokenLen = 4096

// grant is a verified token: the broker it is for and what it allows,
// compiled once per request.
type grant struct {
	b        *broker.Broker
	clientID string
	jti, kid string
	iat, exp int64
	topicACL *topic.ACL
	pubACL   *topic.ACL // nil: no narrowing
	subACL   *topic.ACL // nil: no narrowing
}

// tokenOf returns the token of a request: the Authorization header's
// Bearer credentials, else the auth query parameter (what EventSource,
// which cannot set headers, sends).
func tokenOf(r *http.Request, query map[string][]string) (string, *Error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", errorf(EBADTOKEN, "the Authorization header must be \"Bearer <token>\"")
		}
		return cleanToken(tok), nil
	}
	if v := query["auth"]; len(v) > 0 {
		return cleanToken(v[0]), nil
	}
	return "", errorf(ENOTOKEN, "a token is required: send \"Authorization: Bearer <token>\" or the auth query parameter")
}

// cleanToken strips what copy-pasting brings along: spaces and the JSON
// quotes `jq` without -r leaves, as for the MQTT password.
func cleanToken(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}

// authenticate verifies tok for broker b, or, when b is nil (the request
// named no broker's host), for the broker its audience names. Every
// failure is EBADTOKEN (401): a token the node cannot verify, whatever
// the reason (unknown key included), is not a server error.
func (s *Server) authenticate(tok string, b *broker.Broker, now time.Time) (*grant, *Error) {
	if tok == "" {
		return nil, errorf(ENOTOKEN, "a token is required: send \"Authorization: Bearer <token>\" or the auth query parameter")
	}
	if len(tok) > maxTokenLen {
		return nil, errorf(EBADTOKEN, "the token is longer than %d bytes", maxTokenLen)
	}
	u, err := token.Parse(tok)
	if err != nil {
		return nil, tokenError(err)
	}
	if b == nil {
		aud, err := u.Audience()
		if err != nil {
			return nil, tokenError(err)
		}
		if b = s.backend.State().BrokerByHostname(aud); b == nil {
			return nil, errorf(EBADTOKEN, "the token's audience is not a broker of this node")
		}
	}
	c, err := u.Verify(b.Keys, b.Hostname, now, s.cfg.TokenLeeway)
	if err != nil {
		return nil, tokenError(err)
	}
	switch {
	case b.Revoked(c.ID):
		return nil, errorf(EBADTOKEN, "token has been revoked")
	case b.TooOld(c.IssuedAt, now):
		return nil, errorf(EBADTOKEN, "token is older than the broker's expiration allows")
	}
	g := &grant{b: b, clientID: c.Subject, jti: c.ID, kid: u.KeyID(), iat: c.IssuedAt, exp: c.ExpiresAt}
	if g.topicACL, err = compileACL(c.TopicACL); err == nil && c.PublishACL != nil {
		g.pubACL, err = compileACL(c.PublishACL)
	}
	if err == nil && c.SubscribeACL != nil {
		g.subACL, err = compileACL(c.SubscribeACL)
	}
	if err != nil {
		return nil, errorf(EBADTOKEN, "token ACL is invalid")
	}
	return g, nil
}

// tokenError maps a pkg/token error; its message never repeats the token.
func tokenError(err error) *Error {
	var te *token.Error
	if errors.As(err, &te) {
		return errorf(EBADTOKEN, "%s", te.Message)
	}
	return errorf(EBADTOKEN, "token is invalid")
}

// allACL is the compiled ["#"], which nearly every token carries.
var allACL, _ = topic.NewACL([]string{"#"})

func compileACL(filters []string) (*topic.ACL, error) {
	if len(filters) == 1 && filters[0] == "#" {
		return allACL, nil
	}
	return topic.NewACL(filters)
}

// canPublish reports whether the token allows publishing to name, with
// the rules of the MQTT hook: no client publishes to a $ topic.
func (g *grant) canPublish(name string) bool {
	if len(name) == 0 || name[0] == '$' {
		return false
	}
	return g.topicACL.AllowsTopic(name) && (g.pubACL == nil || g.pubACL.AllowsTopic(name))
}

// canSubscribe reports whether the token allows every topic filter can
// match; $SYS is refused whatever the ACL says.
func (g *grant) canSubscribe(filter string) bool {
	if len(filter) >= 4 && strings.EqualFold(filter[:4], "$SYS") {
		return false
	}
	return g.topicACL.AllowsFilter(filter) && (g.subACL == nil || g.subACL.AllowsFilter(filter))
}

// deadline returns when the grant stops being valid on b: its exp plus
// leeway, or its iat plus the broker's expiration, whichever is first;
// zero for never. It mirrors the MQTT session's deadline.
func (g *grant) deadline(b *broker.Broker, leeway time.Duration) time.Time {
	var d time.Time
	if g.exp > 0 {
		d = time.Unix(g.exp, 0).Add(leeway)
	}
	if b.Expiration > 0 {
		if e := time.Unix(g.iat, 0).Add(b.Expiration); d.IsZero() || e.Before(d) {
			d = e
		}
	}
	return d
}
