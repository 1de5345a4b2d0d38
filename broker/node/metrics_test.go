package node_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/token"
)

// scrape reads the node's /metrics, asking for the given format ("" for
// the default), and returns the body and its Content-Type.
func (e *env) scrape(accept string) ([]byte, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.node.OpsAddr().String()+"/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		e.t.Fatalf("GET /metrics: %d %v\n%s", res.StatusCode, err, raw)
	}
	return raw, res.Header.Get("Content-Type")
}

// parseExposition parses a text exposition with the library's parser,
// lints it with the library's linter (what `promtool check metrics`
// runs) and fails on a counter and another family that OpenMetrics would
// name alike.
func parseExposition(t *testing.T, raw []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, raw)
	}
	problems, err := promlint.New(bytes.NewReader(raw)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER {
			if base := strings.TrimSuffix(name, "_total"); base == name {
				t.Errorf("counter %s does not end in _total", name)
			} else if fams[base] != nil {
				t.Errorf("counter %s and %s %s are one family in OpenMetrics", name, fams[base].GetType(), base)
			}
		} else if strings.HasSuffix(name, "_total") {
			t.Errorf("%s %s ends in _total", f.GetType(), name)
		}
	}
	return fams
}

// seriesValue returns the value of the series of family name with exactly
// the given labels, and whether it exists.
func seriesValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

func wantSeries(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	if got, ok := seriesValue(fams, name, labels); !ok {
		t.Errorf("%s%v: no such series", name, labels)
	} else if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// promtoolCheck runs `promtool check args...` with input on its stdin,
// when promtool is installed; under CI=true it must be. `check metrics`
// must print nothing (it prints each problem it finds).
func promtoolCheck(t *testing.T, input []byte, args ...string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus); .ci/run installs it")
		}
		t.Log("promtool is not installed (Debian package prometheus): skipping its check")
		return
	}
	cmd := exec.Command(path, append([]string{"check"}, args...)...)
	cmd.Stdin = bytes.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 && args[0] == "metrics" {
		t.Errorf("promtool check %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestMetricsExposition reads a node's /metrics with the Prometheus
// parser, in the text format and in OpenMetrics: no family clashes,
// every reason series exists from the start at 0, one retained message
// counts as 1 ($SYS topics are not counted), and the Go and process
// collectors are there.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	host := e.brokers["a"].host
	c, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "kept", QoS: 1, Retain: true, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}

	raw, ct := e.scrape("")
	if !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	fams := parseExposition(t, raw)
	promtoolCheck(t, raw, "metrics")

	b := map[string]string{"broker": host}
	wantSeries(t, fams, "pubsub_retained_messages", b, 1)
	wantSeries(t, fams, "pubsub_connections", b, 1)
	wantSeries(t, fams, "pubsub_connections_accepted_total", b, 1)
	wantSeries(t, fams, "pubsub_messages_received_total", b, 1)
	wantSeries(t, fams, "pubsub_node_ready", nil, 1)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "process_open_fds", "process_max_fds", "process_resident_memory_bytes"} {
		if v, ok := seriesValue(fams, name, nil); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, v, ok)
		}
	}

	// Every reason has its series at 0: the token package's and
	// broker/refusal.go's at CONNECT, the ones that end sessions at
	// DISCONNECT and for offline sessions.
	refusals := []broker.Reason{
		broker.Reason(token.ReasonMalformed), broker.Reason(token.ReasonAlgorithm), broker.Reason(token.ReasonUnknownKey),
		broker.Reason(token.ReasonSignature), broker.Reason(token.ReasonClaims), broker.Reason(token.ReasonAudience),
		broker.Reason(token.ReasonExpired), broker.Reason(token.ReasonNotYetValid),
		broker.ReasonNoToken, broker.ReasonTokenTooLong, broker.ReasonRevoked, broker.ReasonKeyRemoved, broker.ReasonTooOld,
		broker.ReasonUnavailable, broker.ReasonDeleted, broker.ReasonSelfSignedChanged,
		"client_id", "will_topic", "will_topic_levels", "protocol_version",
	}
	for _, r := range refusals {
		wantSeries(t, fams, "pubsub_auth_refusals_total", map[string]string{"broker": host, "reason": string(r)}, 0)
	}
	for _, r := range []broker.Reason{
		broker.ReasonRevoked, broker.ReasonKeyRemoved, broker.ReasonDeleted, broker.ReasonTooOld, broker.ReasonExpired,
		broker.ReasonShutdown, broker.ReasonSelfSignedChanged, broker.ReasonUnavailable, "packet_too_large", "message_rate", "operator",
	} {
		wantSeries(t, fams, "pubsub_disconnects_total", map[string]string{"broker": host, "reason": string(r)}, 0)
	}
	for _, r := range []broker.Reason{broker.ReasonRevoked, broker.ReasonKeyRemoved, broker.ReasonTooOld} {
		wantSeries(t, fams, "pubsub_offline_sessions_dropped_total", map[string]string{"broker": host, "reason": string(r)}, 0)
	}
	for _, a := range []string{"publish", "subscribe"} {
		wantSeries(t, fams, "pubsub_acl_denials_total", map[string]string{"broker": host, "action": a}, 0)
	}
	for _, r := range []string{"messages", "bytes"} {
		wantSeries(t, fams, "pubsub_retained_refused_total", map[string]string{"broker": host, "reason": r}, 0)
	}
	for _, r := range []string{"handshake", "unknown_host", "read", "not_connect", "malformed", "too_large", "protocol_version", "no_token", "bad_token", "unknown_audience"} {
		wantSeries(t, fams, "pubsub_node_unrouted_connections_total", map[string]string{"reason": r}, 0)
	}

	// OpenMetrics: each family is declared once (a gauge x and a counter
	// x_total would both be "x"), and the library's parser reads it.
	raw, ct = e.scrape("application/openmetrics-text; version=1.0.0")
	if !strings.HasPrefix(ct, "application/openmetrics-text") || !bytes.HasSuffix(raw, []byte("# EOF\n")) {
		t.Fatalf("Content-Type %q, body ends %q", ct, raw[max(0, len(raw)-20):])
	}
	declared := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			if declared[name] {
				t.Errorf("OpenMetrics family %s is declared twice", name)
			}
			declared[name] = true
		}
	}
	if !declared["pubsub_connections"] || !declared["pubsub_connections_accepted"] {
		t.Errorf("OpenMetrics lacks pubsub_connections or pubsub_connections_accepted")
	}
	dec := expfmt.NewDecoder(bytes.NewReader(raw), expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode OpenMetrics: %v", err)
		}
	}
}
