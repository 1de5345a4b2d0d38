package edge

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/openpubsub/pubsub/broker"
)

// serveAdminKeys is fastly's `POST /admin/keys`: it creates a key of
// self-signed tokens for the broker the host names and answers
// {"id": "<8 hex>", "value": "<40 hex>"} as fastly does. The client
// authenticates with its account's credentials: an API token as
// `Authorization: Bearer` or fastly's `Fastly-Key`, or `X-Auth-Email`
// with `X-Auth-Key`. The node has none of its own, so cfg.Keys forwards
// them to the control plane, which checks them and that the account owns
// the broker. The credentials are never logged.
func (s *Server) serveAdminKeys(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	if b == nil {
		writeError(w, errorf(ENOTFOUND, "send POST /admin/keys to a broker's hostname"))
		return
	}
	if s.cfg.Keys == nil {
		writeError(w, errorf(EUNAVAILABLE, "this node does not follow a control plane, so it cannot create keys"))
		return
	}
	var creds broker.AccountCredentials
	if k := strings.TrimSpace(r.Header.Get("Fastly-Key")); k != "" {
		creds.APIToken = k
	} else if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(strings.TrimSpace(h), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			writeError(w, errorf(EACCOUNT, "the Authorization header must be \"Bearer <API token>\""))
			return
		}
		creds.APIToken = strings.TrimSpace(tok)
	} else {
		creds.Email, creds.APIKey = strings.TrimSpace(r.Header.Get("X-Auth-Email")), strings.TrimSpace(r.Header.Get("X-Auth-Key"))
		if creds.Email == "" || creds.APIKey == "" {
			writeError(w, errorf(EACCOUNT, "account credentials are required: Authorization: Bearer <API token>, Fastly-Key: <API token>, or X-Auth-Email with X-Auth-Key"))
			return
		}
	}
	k, err := s.cfg.Keys.CreateSigningKey(r.Context(), b.ID, creds)
	switch broker.ErrorCode(err) {
	case "":
	case broker.EUNAUTHENTICATED:
		writeError(w, errorf(EACCOUNT, "the account credentials are not valid"))
		return
	case broker.EFORBIDDEN:
		writeError(w, errorf(EACCOUNTDENIED, "%s", messageOf(err)))
		return
	default:
		s.cfg.Logger.Warn("cannot create a signing key", "broker", b.ID, "err", err)
		writeError(w, errorf(EUNAVAILABLE, "the control plane cannot create the key now; retry later"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(k)
}

// messageOf returns the message of a *broker.Error, without its prefix.
func messageOf(err error) string {
	if e, ok := err.(*broker.Error); ok {
		return e.Message
	}
	return err.Error()
}
