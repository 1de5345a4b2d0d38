package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// clientJSON is a connected client on the wire.
type clientJSON struct {
	ClientID      string   `json:"client_id"`
	JTI           string   `json:"jti"`
	Node          string   `json:"node"`
	Transport     string   `json:"transport"`
	RemoteAddr    string   `json:"remote_addr"`
	ConnectedAt   string   `json:"connected_at"`
	Subscriptions []string `json:"subscriptions"`
	Subscribed    int      `json:"subscribed"`
	Inflight      int      `json:"inflight"`
	MessagesIn    *int64   `json:"messages_in"`  // null for SSE streams
	MessagesOut   *int64   `json:"messages_out"` // null for SSE streams
}

func (s *Server) handleListClients(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, total, err := s.svc.ListClients(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), r.URL.Query().Get("search"), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]clientJSON, len(list))
	for i, c := range list {
		subs := c.Subscriptions
		if subs == nil {
			subs = []string{}
		}
		out[i] = clientJSON{ClientID: c.ClientID, JTI: c.JTI, Node: c.Node, Transport: c.Transport, RemoteAddr: c.Remote,
			ConnectedAt: formatTime(c.ConnectedAt), Subscriptions: subs, Subscribed: c.Subscribed, Inflight: c.Inflight,
			MessagesIn: c.MessagesIn, MessagesOut: c.MessagesOut}
	}
	writeList(w, out, listInfo(p, len(out), total))
}

// disconnectBody is the body of POST /clients/disconnect. The client id
// travels in the body, not the path, since client ids may hold slashes.
type disconnectBody struct {
	ClientID *string `json:"client_id"`
}

func (s *Server) handleDisconnectClient(w http.ResponseWriter, r *http.Request) {
	var body disconnectBody
	if err := decodeBody(w, r, &body); err != nil {
		s.writeError(w, r, err)
		return
	}
	if body.ClientID == nil || *body.ClientID == "" {
		s.writeError(w, r, errorf(controlplane.EINVALID, "field \"client_id\" is required"))
		return
	}
	if err := s.svc.DisconnectClient(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"), *body.ClientID); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, nil)
}

// handleClientReport takes a node's report of its connected clients and
// answers with the disconnections asked for since its last one.
func (s *Server) handleClientReport(w http.ResponseWriter, r *http.Request) {
	node, ok := s.authenticateNode(w, r)
	if !ok {
		return
	}
	var rep clients.Report
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, clients.MaxReportBytes))
	if err := dec.Decode(&rep); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, errorf(controlplane.ETOOLARGE, "a clients report may be at most %d bytes", clients.MaxReportBytes))
			return
		}
		s.writeError(w, r, decodeError(err))
		return
	}
	ans, err := s.svc.ReportClients(r.Context(), node, &rep)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ans.Disconnect == nil {
		ans.Disconnect = []clients.Target{}
	}
	writeOK(w, ans)
}
