package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// revocationJSON is one revoked jti.
type revocationJSON struct {
	JTI       string  `json:"jti"`
	RevokedAt string  `json:"revoked_at"`
	ExpiresAt *string `json:"expires_at"`
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	err := s.svc.Revoke(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), queryValues(r, "jti"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}

func (s *Server) handleUnrevoke(w http.ResponseWriter, r *http.Request) {
	err := s.svc.Unrevoke(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), queryValues(r, "jti"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}

func (s *Server) handleListRevocations(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total, err := s.svc.ListRevocations(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]revocationJSON, len(list))
	for i, rv := range list {
		out[i] = revocationJSON{JTI: rv.JTI, RevokedAt: formatTime(rv.RevokedAt)}
		if rv.ExpiresAt != nil {
			t := formatTime(*rv.ExpiresAt)
			out[i].ExpiresAt = &t
		}
	}
	writeList(w, out, listInfo(p, len(out), total))
}
