package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openpubsub/pubsub/pkg/feed"
)

// MetricsPath is where the control plane serves its Prometheus metrics,
// without authentication, like /healthz.
const MetricsPath = "/metrics"

// unmatchedRoute is the route label of requests no route matched (404, 405).
const unmatchedRoute = "unmatched"

// metrics are the control plane's Prometheus metrics, in a registry of
// their own so that several servers can live in one process (tests, the
// dev stack next to a node).
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	feedSubscribers prometheus.Gauge
	storeErrors     *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pubsub_controlplane_http_requests_total",
			Help: "API requests answered, by route pattern, method and HTTP status. Feed streams count when they end.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pubsub_controlplane_http_request_duration_seconds",
			Help:    "Time to answer an API request, by route pattern, method and HTTP status; feed streams are left out.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		feedSubscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pubsub_controlplane_feed_subscribers",
			Help: "Broker nodes following the config feed now.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pubsub_controlplane_store_errors_total",
			Help: "Requests and feed streams that failed on the store itself (a lost connection, a full disk), by route pattern; details are in the log.",
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.feedSubscribers, m.storeErrors,
		// The runtime/metrics names: the MemStats ones include a gauge
		// go_memstats_alloc_bytes and a counter go_memstats_alloc_bytes_total,
		// one family in OpenMetrics.
		collectors.NewGoCollector(collectors.WithGoCollectorMemStatsMetricsDisabled(), collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsMemory)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// zeroRoutes makes the store error series of every route exist from the
// start, at 0, so that a rate over them is defined before the first error.
func (m *metrics) zeroRoutes(r chi.Routes) {
	_ = chi.Walk(r, func(_, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		m.storeErrors.WithLabelValues(route)
		return nil
	})
}

// handler serves the registry in the text format (or OpenMetrics when the
// scraper asks for it).
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// observe records one answered request of route.
func (m *metrics) observe(route, method string, status int, took time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	if route != feed.Path {
		m.duration.WithLabelValues(route, method, code).Observe(took.Seconds())
	}
}

// routeOf is the route pattern that r matches, for labels. A request
// refused before routing finished (by authentication, say) has only its
// subrouter's pattern, ".../pubsub/*", so the router is asked for the full
// one; a request no route matches is "unmatched".
func (s *Server) routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" && !strings.HasSuffix(p, "/*") {
			return p
		}
	}
	rc := chi.NewRouteContext()
	if s.router.Match(rc, r.Method, r.URL.Path) {
		return rc.RoutePattern()
	}
	return unmatchedRoute
}
