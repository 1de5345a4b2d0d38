package edge

import (
	"net/http"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/token"
)

// grant is a verified token and the broker it is for.
type grant struct {
	*broker.Grant
	b *broker.Broker
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
		return broker.CleanToken(tok), nil
	}
	if v := query["auth"]; len(v) > 0 {
		return broker.CleanToken(v[0]), nil
	}
	return "", errorf(ENOTOKEN, "a token is required: send \"Authorization: Bearer <token>\" or the auth query parameter")
}

// authenticate verifies tok for broker b, or, when b is nil (the request
// named no broker's host), for the broker its audience names. Every
// failure is EBADTOKEN (401): a token the node cannot verify, whatever
// the reason (unknown key included), is not a server error.
func (s *Server) authenticate(tok string, b *broker.Broker, now time.Time) (*grant, *Error) {
	if tok == "" {
		return nil, refusalError(broker.RefuseNoToken)
	}
	if b == nil && len(tok) <= broker.MaxTokenLen {
		u, err := token.Parse(tok)
		if err != nil {
			return nil, refusalError(broker.TokenRefusal(err))
		}
		aud, err := u.Audience()
		if err != nil {
			return nil, refusalError(broker.TokenRefusal(err))
		}
		if b = s.backend.State().BrokerByHostname(aud); b == nil {
			return nil, errorf(EBADTOKEN, "the token's audience is not a broker of this node")
		}
	}
	if b == nil {
		return nil, refusalError(broker.RefuseTokenTooLong)
	}
	g, r := s.cfg.Grants.Authenticate(b, tok, now, s.cfg.TokenLeeway)
	if r != nil {
		return nil, refusalError(r)
	}
	return &grant{Grant: g, b: b}, nil
}
