package node

import (
	"net/http"
)

// opsHandler serves the operations endpoints. They are plain HTTP on a
// private address: /metrics for Prometheus, /healthz for liveness (the
// process serves), /readyz for readiness (a configuration is applied, so
// the node can authenticate clients).
func (n *Node) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = n.writeMetrics(w)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !n.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: no configuration applied yet\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n" + n.fleetStatus()))
	})
	handlePprof(mux)
	return mux
}
