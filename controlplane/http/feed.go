package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// authenticateNode checks a broker node's request: its node token in
// Authorization: Bearer. On failure it has answered, and returns false.
func (s *Server) authenticateNode(w http.ResponseWriter, r *http.Request) (*controlplane.NodeToken, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		s.writeError(w, r, errorf(controlplane.EUNAUTHENTICATED, "a broker node must send Authorization: Bearer <node token>"))
		return nil, false
	}
	node, err := s.svc.AuthenticateNode(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return node, true
}

// handleFeed streams the config feed to a broker node as NDJSON. The node
// authenticates with its node token and resumes with ?after=<revision>.
func (s *Server) handleFeed(w http.ResponseWriter, r *http.Request) {
	node, ok := s.authenticateNode(w, r)
	if !ok {
		return
	}
	var after int64
	var err error
	if raw := r.URL.Query().Get("after"); raw != "" {
		if after, err = strconv.ParseInt(raw, 10, 64); err != nil || after < 0 {
			s.writeError(w, r, errorf(controlplane.EINVALID, "after must be a revision number, got %q", truncate(raw)))
			return
		}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(noDeadline)
	w.Header().Set("Content-Type", feed.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	// Secrets of self-signed keys leave sealed for this node's token.
	box := feed.NewSecretBox(node.TokenHash)
	s.log.Info("node connected to the feed", "node", node.Name, "after", after)
	s.metrics.feedSubscribers.Inc()
	defer s.metrics.feedSubscribers.Dec()
	err = s.svc.StreamFeed(r.Context(), after, func(ev *feed.Event) error {
		box.SealSecrets(ev)
		if err := enc.Encode(ev); err != nil {
			return err
		}
		return rc.Flush()
	})
	if controlplane.IsStoreError(err) {
		s.metrics.storeErrors.WithLabelValues(s.routeOf(r)).Inc()
		s.log.Error("node left the feed: store error", "node", node.Name, "err", err)
		return
	}
	s.log.Info("node left the feed", "node", node.Name, "reason", err)
}
