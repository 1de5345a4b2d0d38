package edge

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
)

// WriteMetrics writes the edge's metrics in the Prometheus text format,
// one sample per broker with a hub (one SSE stream, publish or WebSocket
// since the node started), labelled by hostname like the node's own.
func (s *Server) WriteMetrics(out io.Writer) error {
	st := s.backend.State()
	type row struct {
		host string
		h    *hub
	}
	s.mu.Lock()
	rows := make([]row, 0, len(s.hubs))
	for id, h := range s.hubs {
		if b := st.Broker(id); b != nil {
			rows = append(rows, row{b.Hostname, h})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.host, b.host) })
	w := bufio.NewWriter(out)
	for _, m := range []struct {
		name, typ, help string
		get             func(*hub) int64
	}{
		{"pubsub_sse_clients", "gauge", "SSE streams open.", func(h *hub) int64 { return int64(h.sseClients()) }},
		{"pubsub_sse_streams_total", "counter", "SSE streams opened.", func(h *hub) int64 { return h.streams.Load() }},
		{"pubsub_sse_evicted_total", "counter", "SSE streams ended because the client fell too far behind.", func(h *hub) int64 { return h.evicted.Load() }},
		{"pubsub_sse_subscriptions", "gauge", "Topic filters the SSE hub subscribes to, lingering ones included.", func(h *hub) int64 {
			h.mu.Lock()
			defer h.mu.Unlock()
			return int64(len(h.subs))
		}},
		{"pubsub_http_publishes_total", "counter", "Messages published with HTTP POST.", func(h *hub) int64 { return h.publishes.Load() }},
		{"pubsub_http_publishes_limited_total", "counter", "HTTP publishes refused with 429 for the message rate.", func(h *hub) int64 { return h.limited.Load() }},
		{"pubsub_http_rate_buckets_evicted_total", "counter", "Message rate buckets of tokens dropped before they refilled, to keep at most 10000 per broker.", func(h *hub) int64 {
			if h.rate == nil {
				return 0
			}
			return h.rate.evictions()
		}},
		{"pubsub_ws_connections", "gauge", "MQTT over WebSocket connections open.", func(h *hub) int64 { return h.wsConns.Load() }},
		{"pubsub_ws_connections_total", "counter", "MQTT over WebSocket connections accepted.", func(h *hub) int64 { return h.wsTotal.Load() }},
	} {
		w.WriteString("# HELP " + m.name + " " + m.help + "\n# TYPE " + m.name + " " + m.typ + "\n")
		for _, r := range rows {
			w.WriteString(m.name + `{broker="` + escapeLabel(r.host) + `"} ` + strconv.FormatInt(m.get(r.h), 10) + "\n")
		}
	}
	return w.Flush()
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
