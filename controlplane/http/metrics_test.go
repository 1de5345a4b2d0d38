package http_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// scrape reads /metrics, lints it with the library's linter (what
// `promtool check metrics` runs) and parses it with the library's parser.
func scrape(t *testing.T, a *api) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(a.srv.URL + cphttp.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, raw)
	}
	// OpenMetrics names a counter's family without _total: no other
	// family may have that name.
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER {
			if base := strings.TrimSuffix(name, "_total"); base != name && fams[base] != nil {
				t.Errorf("counter %s and %s %s are one family in OpenMetrics", name, fams[base].GetType(), base)
			}
		}
	}
	return fams
}

// value returns the value of the series of family name with exactly the
// given labels, and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(fams, name, labels)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

const nsRoute = cphttp.APIPrefix + "/accounts/{account_id}/pubsub/namespaces"

// TestMetrics drives the API and the feed, then reads /metrics with the
// Prometheus parser: requests by route, method and status, latency,
// feed subscribers, store errors (after the store is closed), and the Go
// and process collectors.
func TestMetrics(t *testing.T) {
	st := testenv.OpenStore(t, "sqlite")
	a := newAPI(t, st)

	fams := scrape(t, a)
	for _, name := range []string{"go_goroutines", "process_open_fds", "process_max_fds", "process_resident_memory_bytes"} {
		if fams[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	// Store error series exist at zero before any error.
	wantValue(t, fams, "pubsub_controlplane_store_errors_total", map[string]string{"route": "/healthz"}, 0)
	wantValue(t, fams, "pubsub_controlplane_store_errors_total", map[string]string{"route": nsRoute}, 0)
	wantValue(t, fams, "pubsub_controlplane_feed_subscribers", nil, 0)

	a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
	a.do("GET", "/namespaces/nope", "").fails(t, 404, 10020, "not found")
	a.do("GET", "/namespaces/nope", "").fails(t, 404, 10020, "not found")
	a.doWith("GET", a.srv.URL+"/no/such/route", "", nil).fails(t, 404, 10015, "no route")

	// A node follows the feed.
	tok, err := a.svc.CreateNodeToken(context.Background(), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopFeed := context.WithCancel(context.Background())
	defer stopFeed()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+feed.Path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(res.Body).ReadBytes('\n'); err != nil {
		t.Fatal(err)
	}

	fams = scrape(t, a)
	wantValue(t, fams, "pubsub_controlplane_http_requests_total", map[string]string{"route": nsRoute, "method": "POST", "code": "200"}, 1)
	wantValue(t, fams, "pubsub_controlplane_http_requests_total", map[string]string{"route": nsRoute + "/{namespace}", "method": "GET", "code": "404"}, 2)
	wantValue(t, fams, "pubsub_controlplane_http_requests_total", map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1)
	wantValue(t, fams, "pubsub_controlplane_http_request_duration_seconds", map[string]string{"route": nsRoute, "method": "POST", "code": "200"}, 1)
	wantValue(t, fams, "pubsub_controlplane_feed_subscribers", nil, 1)
	if _, ok := value(fams, "pubsub_controlplane_http_request_duration_seconds", map[string]string{"route": feed.Path, "method": "GET", "code": "200"}); ok {
		t.Error("feed streams must stay out of the latency histogram")
	}

	// The node goes away: the gauge falls back to 0 and the stream counts
	// (the handler's end and the count are two steps: poll for both).
	stopFeed()
	res.Body.Close()
	feedDone := map[string]string{"route": feed.Path, "method": "GET", "code": "200"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, a)
		subs, _ := value(fams, "pubsub_controlplane_feed_subscribers", nil)
		if done, _ := value(fams, "pubsub_controlplane_http_requests_total", feedDone); subs == 0 && done == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the node left: feed_subscribers %v, feed requests %v", subs, fams["pubsub_controlplane_http_requests_total"])
		}
		time.Sleep(10 * time.Millisecond) // poll
	}

	// The store fails: each failure counts, under its route.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	a.doWith("GET", a.srv.URL+"/healthz", "", nil).fails(t, 500, 10500, "Internal error")
	a.do("GET", "/namespaces", "").fails(t, 500, 10500, "Internal error")
	fams = scrape(t, a)
	wantValue(t, fams, "pubsub_controlplane_store_errors_total", map[string]string{"route": "/healthz"}, 1)
	wantValue(t, fams, "pubsub_controlplane_store_errors_total", map[string]string{"route": nsRoute}, 1)
	wantValue(t, fams, "pubsub_controlplane_http_requests_total", map[string]string{"route": "/healthz", "method": "GET", "code": "500"}, 1)
}

// TestMetricsOpenMetrics: a scraper that asks for OpenMetrics gets it.
func TestMetricsOpenMetrics(t *testing.T) {
	a := newAPI(t, testenv.OpenStore(t, "sqlite"))
	req, _ := http.NewRequest("GET", a.srv.URL+cphttp.MetricsPath, nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") || !bytes.HasSuffix(raw, []byte("# EOF\n")) {
		t.Fatalf("Content-Type %q, body ends %q", ct, raw[max(0, len(raw)-20):])
	}
	if !bytes.Contains(raw, []byte("# TYPE pubsub_controlplane_store_errors counter")) {
		t.Fatal("the store errors counter is missing from the OpenMetrics answer")
	}
}
