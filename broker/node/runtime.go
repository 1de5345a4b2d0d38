package node

import (
	"net/http"
	"net/http/pprof"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// memstatsSamples are read with runtime/metrics, which, unlike
// runtime.ReadMemStats, does not stop the world: /metrics may be scraped
// while the node carries its full load.
var memstatsSamples = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/stacks:bytes",
}

var (
	descHeapInuse  = prometheus.NewDesc("go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", nil, nil)
	descSys        = prometheus.NewDesc("go_memstats_sys_bytes", "Bytes of memory the Go runtime has mapped.", nil, nil)
	descStackInuse = prometheus.NewDesc("go_memstats_stack_inuse_bytes", "Bytes in goroutine stacks.", nil, nil)
)

// memstatsCollector writes three of the Go collector's MemStats gauges
// under their usual names, which the benchmark suite and dashboards read.
// The Go collector's own MemStats set is off: it has a gauge
// go_memstats_alloc_bytes and a counter go_memstats_alloc_bytes_total,
// one family in OpenMetrics.
type memstatsCollector struct{}

// Describe implements prometheus.Collector.
func (memstatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHeapInuse
	ch <- descSys
	ch <- descStackInuse
}

// Collect implements prometheus.Collector.
func (memstatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := make([]metrics.Sample, len(memstatsSamples))
	for i, name := range memstatsSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(i int) float64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return float64(s[i].Value.Uint64())
	}
	ch <- prometheus.MustNewConstMetric(descHeapInuse, prometheus.GaugeValue, u(0)+u(1))
	ch <- prometheus.MustNewConstMetric(descSys, prometheus.GaugeValue, u(2))
	ch <- prometheus.MustNewConstMetric(descStackInuse, prometheus.GaugeValue, u(3))
}

// handlePprof adds the runtime profiles to the ops server. The ops
// address is private (it already shows every broker's traffic), and a
// profile costs nothing until someone asks for one; it is how the
// benchmark figures in docs/ were explained.
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
