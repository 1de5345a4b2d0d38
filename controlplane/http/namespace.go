package http

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
)

// timeFormat is RFC 3339 in UTC with microseconds, as Cloudflare returns.
const timeFormat = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// namespaceJSON is a namespace on the wire.
type namespaceJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedOn   string `json:"created_on"`
	ModifiedOn  string `json:"modified_on"`
}

func toNamespaceJSON(ns *controlplane.Namespace) namespaceJSON {
	return namespaceJSON{ID: ns.ID, Name: ns.Name, Description: ns.Description, CreatedOn: formatTime(ns.CreatedOn), ModifiedOn: formatTime(ns.ModifiedOn)}
}

// createNamespaceBody is the body of POST /namespaces.
type createNamespaceBody struct {
	Name        *string `json:"name"`
	Description string  `json:"description"`
}

func (s *Server) handleCreateNamespace(w http.ResponseWriter, r *http.Request) {
	var body createNamespaceBody
	if err := decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.Name == nil {
		s.writeError(w, r, errorf(controlplane.EINVALIDNAME, "field \"name\" is required"))
		return
	}
	ns, err := s.svc.CreateNamespace(r.Context(), account(r).ID, *body.Name, body.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, toNamespaceJSON(ns))
}

func (s *Server) handleGetNamespace(w http.ResponseWriter, r *http.Request) {
	ns, err := s.svc.FindNamespace(r.Context(), account(r).ID, chi.URLParam(r, "namespace"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, toNamespaceJSON(ns))
}

func (s *Server) handleListNamespaces(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total, err := s.svc.ListNamespaces(r.Context(), account(r).ID, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]namespaceJSON, len(list))
	for i, ns := range list {
		out[i] = toNamespaceJSON(ns)
	}
	writeList(w, out, listInfo(p, len(out), total))
}

func (s *Server) handleDeleteNamespace(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.DeleteNamespace(r.Context(), account(r).ID, chi.URLParam(r, "namespace")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}
