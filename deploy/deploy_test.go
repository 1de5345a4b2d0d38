package deploy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/internal/app"
)

// synthetic are the series Prometheus makes itself, found in no /metrics.
var synthetic = []string{"up"}

// TestReferencedMetricsExist runs the dev stack (a control plane and a
// broker node with NATS), gives one broker an on-publish hook and one HTTP
// publish so that its per-broker, edge and hook families exist, and checks
// that every metric the alert rules and the dashboard name is in the
// node's or the control plane's /metrics.
func TestReferencedMetricsExist(t *testing.T) {
	exprs := alertExprs(t)
	n := len(exprs)
	exprs = append(exprs, dashboardExprs(t)...)
	if n == 0 || len(exprs) == n {
		t.Fatalf("%d alert expressions, %d dashboard expressions", n, len(exprs)-n)
	}
	have := liveFamilies(t)
	for _, e := range exprs {
		names := metricNames(e)
		if len(names) == 0 {
			t.Errorf("no metric found in %q", e)
		}
		for _, name := range names {
			if !have[name] && !slices.Contains(synthetic, name) {
				t.Errorf("%s (in %q) is in no live /metrics", name, e)
			}
		}
	}
}

// TestPromtool checks the rules and the example configuration with
// promtool, which CI installs (Debian package prometheus).
func TestPromtool(t *testing.T) {
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (Debian package prometheus); .ci/run installs it")
		}
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"check", "config", "prometheus.yml"}} {
		cmd := exec.Command(path, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// alertExprs returns the expressions of prometheus/alerts.yml.
func alertExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("alerts.yml: a rule without alert or expr: %+v", r)
			}
			out = append(out, r.Expr)
		}
	}
	return out
}

// dashboardExprs returns the queries of grafana/pubsub-dashboard.json:
// every panel's targets and the template variables'.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("grafana/pubsub-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("pubsub-dashboard.json: %v", err)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			// label_values(selector, label): the selector's metric.
			s, _ := q["query"].(string)
			s = strings.TrimPrefix(s, "label_values(")
			out = append(out, s[:strings.LastIndexByte(s, ',')])
		}
	}
	return out
}

var (
	// Parts of PromQL that hold no metric name: strings, label matchers,
	// ranges, and the label lists of by, without, on, ignoring and
	// group_left/right.
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promqlLabels   = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// An identifier not followed by "(" (a function or aggregation).
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression selects. It
// is no PromQL parser, but enough for the expressions of deploy/: it
// drops strings, matchers, ranges and label lists, numbers and Grafana's
// $variables, then takes the identifiers that are not functions.
func metricNames(expr string) []string {
	s := promqlStrings.ReplaceAllString(expr, " ")
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlLabels.ReplaceAllString(s, " ")
	var out []string
	for _, m := range promqlIdent.FindAllStringSubmatchIndex(s, -1) {
		id := s[m[0]:m[1]]
		if m[2] >= 0 || slices.Contains(promqlKeywords, strings.ToLower(id)) {
			continue
		}
		if m[0] > 0 && (s[m[0]-1] == '$' || s[m[0]-1] == '.' || s[m[0]-1] >= '0' && s[m[0]-1] <= '9') {
			continue // a variable, or the tail of a number (1e3)
		}
		out = append(out, id)
	}
	return out
}

// liveFamilies starts the dev stack, makes every family exist, and
// returns the names of the node's and the control plane's /metrics
// (with the _bucket, _sum and _count series of histograms).
func liveFamilies(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	d, err := app.StartDev(ctx, app.DevConfig{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"},
		OpsAddr: "127.0.0.1:0", Domain: "pubsub.localhost", Log: slog.New(slog.DiscardHandler),
		Hooks: node.HookConfig{AllowHTTP: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })

	// The hook answers each message unchanged; what matters is that it is
	// called.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, r.Body)
	}))
	t.Cleanup(hook.Close)

	api := func(method, path, body string) json.RawMessage {
		t.Helper()
		req, _ := http.NewRequest(method, d.Env["PUBSUB_API_URL"]+"/accounts/"+d.Env["CF_ACCOUNT_ID"]+"/pubsub"+path, strings.NewReader(body))
		req.Header.Set("X-Auth-Email", d.Env["CF_API_EMAIL"])
		req.Header.Set("X-Auth-Key", d.Env["CF_API_KEY"])
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var env struct {
			Success bool            `json:"success"`
			Result  json.RawMessage `json:"result"`
		}
		raw, _ := io.ReadAll(res.Body)
		if err := json.Unmarshal(raw, &env); err != nil || !env.Success {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
		}
		return env.Result
	}
	api("POST", "/namespaces", `{"name": "ns"}`)
	api("POST", "/namespaces/ns/brokers", fmt.Sprintf(`{"name": "b", "authType": "TOKEN", "on_publish": {"url": %q}}`, hook.URL))
	var minted map[string]string
	if err := json.Unmarshal(api("GET", "/namespaces/ns/brokers/b/credentials?number=1&type=TOKEN&topicAcl=%23&clientid=c1", ""), &minted); err != nil || minted["c1"] == "" {
		t.Fatalf("minted %v: %v", minted, err)
	}

	// One HTTP publish starts the broker's server, its edge hub and its
	// hook. The node learns of the broker from the feed: retry until it
	// knows it.
	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	edgeAddr := d.Node.HTTPSAddrs()[0].String()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, edgeAddr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
	t.Cleanup(client.CloseIdleConnections)
	nodeURL := "http://" + d.Node.OpsAddr().String() + "/metrics"
	poll(t, "the HTTP publish to reach the hook", func() bool {
		req, _ := http.NewRequest("POST", "https://b.ns.pubsub.localhost/events?topic=t", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+minted["c1"])
		res, err := client.Do(req)
		if err != nil {
			return false // the node has no certificate for the broker yet
		}
		res.Body.Close()
		return families(t, nodeURL)["pubsub_hook_requests_total"]
	})

	have := families(t, nodeURL)
	for name := range families(t, "http://"+d.ControlPlane.Addr()+"/metrics") {
		have[name] = true
	}
	return have
}

// families returns the family names of a /metrics, and the series names
// of its histograms and summaries.
func families(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	out := map[string]bool{}
	for name, f := range fams {
		out[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
			out[name+"_sum"], out[name+"_count"] = true, true
			if f.GetType() == dto.MetricType_HISTOGRAM {
				out[name+"_bucket"] = true
			}
		}
	}
	return out
}

// poll calls cond until it holds, for at most 20 seconds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
