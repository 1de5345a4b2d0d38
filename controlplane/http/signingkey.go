package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
)

// signingKeyJSON is a key of self-signed tokens as listed: never its value.
type signingKeyJSON struct {
	ID        string `json:"id"`
	CreatedOn string `json:"created_on"`
}

// newSigningKeyJSON is a key just created: its value, shown this once, in
// fastly's /admin/keys shape plus created_on.
type newSigningKeyJSON struct {
	ID        string `json:"id"`
	Value     string `json:"value"`
	CreatedOn string `json:"created_on"`
}

func (s *Server) handleListSigningKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.ListHMACKeys(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]signingKeyJSON, len(keys))
	for i, k := range keys {
		out[i] = signingKeyJSON{ID: k.ID, CreatedOn: formatTime(k.CreatedOn)}
	}
	writeOK(w, out)
}

func (s *Server) handleCreateSigningKey(w http.ResponseWriter, r *http.Request) {
	k, value, err := s.svc.CreateHMACKey(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, newSigningKeyJSON{ID: k.ID, Value: value, CreatedOn: formatTime(k.CreatedOn)})
}

func (s *Server) handleDeleteSigningKey(w http.ResponseWriter, r *http.Request) {
	err := s.svc.DeleteHMACKey(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}

// nodeSigningKeyBody is what a broker node forwards of a client's
// `POST /admin/keys`: the broker its host named and the client's
// account credentials.
type nodeSigningKeyBody struct {
	BrokerID string `json:"broker_id"`
	APIToken string `json:"api_token"`
	Email    string `json:"email"`
	APIKey   string `json:"api_key"`
}

// handleNodeSigningKey creates a key for a client of a node's edge. The
// node authenticates with its node token; the client's credentials are
// checked as the API checks them, and must own the broker.
func (s *Server) handleNodeSigningKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticateNode(w, r); !ok {
		return
	}
	var body nodeSigningKeyBody
	if err := decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	k, value, err := s.svc.CreateHMACKeyFor(r.Context(), body.BrokerID, controlplane.AccountCredentials{APIToken: body.APIToken, Email: body.Email, APIKey: body.APIKey})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, newSigningKeyJSON{ID: k.ID, Value: value, CreatedOn: formatTime(k.CreatedOn)})
}
