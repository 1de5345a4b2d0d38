package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// statsJSON is a broker's recent counters on each node.
type statsJSON struct {
	Nodes []nodeStatsJSON `json:"nodes"`
}

type nodeStatsJSON struct {
	Node    string       `json:"node"`
	Samples []sampleJSON `json:"samples"`
}

type sampleJSON struct {
	Time        string `json:"time"`
	Connections int64  `json:"connections"`
	MessagesIn  int64  `json:"messages_in"`
	MessagesOut int64  `json:"messages_out"`
	Dropped     int64  `json:"dropped"`
	Refused     int64  `json:"refused"`
	Denied      int64  `json:"denied"`
	// Hook is the broker's on-publish hook on the node, null when it has
	// none there.
	Hook *clients.HookStats `json:"hook"`
}

func (s *Server) handleBrokerStats(w http.ResponseWriter, r *http.Request) {
	list, err := s.svc.BrokerStats(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := statsJSON{Nodes: make([]nodeStatsJSON, len(list))}
	for i, n := range list {
		out.Nodes[i] = nodeStatsJSON{Node: n.Node, Samples: make([]sampleJSON, len(n.Samples))}
		for j, x := range n.Samples {
			out.Nodes[i].Samples[j] = sampleJSON{Time: formatTime(x.At), Connections: x.Connections, MessagesIn: x.MessagesIn,
				MessagesOut: x.MessagesOut, Dropped: x.Dropped, Refused: x.Refused, Denied: x.Denied, Hook: x.Hook}
		}
	}
	writeOK(w, out)
}
