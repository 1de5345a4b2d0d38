package edge

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// MaxRetainedList is the most retained messages one GET /retained returns;
// past it the answer says truncated, and a narrower filter shows the rest.
const MaxRetainedList = 1000

// retainedJSON is one retained message in GET /retained's answer.
type retainedJSON struct {
	Topic       string  `json:"topic"`
	Payload     []byte  `json:"payload"` // base64 in JSON
	Bytes       int     `json:"bytes"`
	ContentType string  `json:"content_type,omitempty"`
	ExpiresAt   *string `json:"expires_at"`
}

type retainedResult struct {
	Messages  []retainedJSON `json:"messages"`
	Truncated bool           `json:"truncated"`
}

// serveRetained lists the retained messages the topic filters match,
// sorted by topic, for a token allowed to subscribe to each filter: what
// a durable SSE stream would send first, with the topic names, which
// SSE events do not carry. An operator's console lists and deletes
// retained messages with it (deleting is an HTTP publish with retain=true
// and an empty body).
func (s *Server) serveRetained(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	p, _, h, perr := s.authorizeRead(r, b)
	if perr != nil {
		writeError(w, perr)
		return
	}
	seen := map[string]bool{}
	out := retainedResult{Messages: []retainedJSON{}}
	for _, f := range p.filters {
		for _, m := range h.bus.Retained(f) {
			if seen[m.Topic] {
				continue
			}
			seen[m.Topic] = true
			rj := retainedJSON{Topic: m.Topic, Payload: m.Payload, Bytes: len(m.Payload), ContentType: m.ContentType}
			if !m.Expiry.IsZero() {
				t := m.Expiry.UTC().Format(time.RFC3339)
				rj.ExpiresAt = &t
			}
			out.Messages = append(out.Messages, rj)
		}
	}
	slices.SortFunc(out.Messages, func(a, b retainedJSON) int { return strings.Compare(a.Topic, b.Topic) })
	if len(out.Messages) > MaxRetainedList {
		out.Messages, out.Truncated = out.Messages[:MaxRetainedList], true
	}
	writeJSON(w, out)
}
