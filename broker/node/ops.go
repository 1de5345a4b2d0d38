package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsHandler serves the operations endpoints. They are plain HTTP on a
// private address: /metrics for Prometheus, /healthz for liveness (the
// process serves), /readyz for readiness (a configuration is applied, so
// the node can authenticate clients).
func (n *Node) opsHandler() http.Handler {
	mux := http.NewServeMux()
	// A family that fails to gather is logged and left out: answering 500
	// would make the whole node look down to Prometheus.
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.gatherer(), promhttp.HandlerOpts{
		EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError, ErrorLog: metricsLog{n.log},
	}))
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

// gatherer is what /metrics serves: the node's collector, the Go and
// process collectors (process_open_fds and process_max_fds size a node,
// which holds one descriptor per connection) and the edge's metrics, in a
// registry of the node's own so that several nodes can share a process
// (tests, pubsub dev --nodes).
func (n *Node) gatherer() prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{n}, memstatsCollector{},
		collectors.NewGoCollector(collectors.WithGoCollectorMemStatsMetricsDisabled(), collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return prometheus.Gatherers{reg, prometheus.GathererFunc(n.gatherEdge)}
}

// metricsLog logs the errors of /metrics.
type metricsLog struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (l metricsLog) Println(v ...any) { l.log.Warn("/metrics: " + fmt.Sprint(v...)) }

// edgeRenames are the edge's names that break Prometheus' conventions,
// and the names /metrics serves them under: a counter whose name is a
// gauge's plus _total is one family with it in OpenMetrics.
var edgeRenames = map[string]string{
	"pubsub_ws_connections_total": "pubsub_ws_connections_accepted_total",
}

// gatherEdge reads the edge's metrics, which broker/edge writes in the
// text format, with the library's parser. Gatherers checks them against
// the node's families like any other.
func (n *Node) gatherEdge() ([]*dto.MetricFamily, error) {
	var buf bytes.Buffer
	if err := n.edge.WriteMetrics(&buf); err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		return nil, err
	}
	out := make([]*dto.MetricFamily, 0, len(fams))
	for name, f := range fams {
		if to, ok := edgeRenames[name]; ok {
			f.Name = &to
		}
		if len(f.GetMetric()) > 0 {
			out = append(out, f)
		}
	}
	return out, nil
}
