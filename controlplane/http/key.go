package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/token"
)

// jwkSet is the JWKS of a broker: every key that verifies its tokens, and
// the key that signs its on-publish hook requests.
type jwkSet struct {
	Keys []token.JWK `json:"keys"`
}

func toJWKSet(keys []*controlplane.SigningKey) jwkSet {
	out := jwkSet{Keys: make([]token.JWK, len(keys))}
	for i, k := range keys {
		out.Keys[i] = token.NewJWK(k.PublicKey)
	}
	return out
}

// rotationJSON is the result of a rotation: the new JWKS, plus which kid is
// in which state, so an operator knows which retired key to delete later.
type rotationJSON struct {
	Keys    []token.JWK `json:"keys"`
	Current string      `json:"current"`
	Next    string      `json:"next"`
	Retired []string    `json:"retired"`
	Hook    string      `json:"hook"`
}

func (s *Server) handlePublicKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.PublicKeys(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, toJWKSet(keys))
}

func (s *Server) handleRotateKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.svc.RotateKeys(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := rotationJSON{Keys: toJWKSet(keys).Keys, Retired: []string{}}
	for _, k := range keys {
		switch k.State {
		case controlplane.KeyCurrent:
			out.Current = k.ID
		case controlplane.KeyNext:
			out.Next = k.ID
		case controlplane.KeyHook:
			out.Hook = k.ID
		default:
			out.Retired = append(out.Retired, k.ID)
		}
	}
	writeOK(w, out)
}

func (s *Server) handleDeleteKey(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteKey(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), chi.URLParam(r, "kid")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}
