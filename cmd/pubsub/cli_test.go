package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// devEnv starts a dev stack and points the CLI's environment at it.
func devEnv(t testing.TB) *app.Dev {
	t.Helper()
	d, err := app.StartDev(context.Background(), app.DevConfig{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Domain: "pubsub.localhost", MQTTAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	for k, v := range d.Env {
		t.Setenv(k, v)
	}
	t.Setenv("PUBSUB_NAMESPACE", "")
	t.Setenv("DEFAULT_NAMESPACE", "")
	return d
}

// cli runs the pubsub command line in-process.
func cli(t testing.TB, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(ctx, args, &out, &errb)
	return out.String(), errb.String(), err
}

func mustCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, context.Background(), args...)
	if err != nil {
		t.Fatalf("pubsub %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestCLI(t *testing.T) {
	devEnv(t)
	mustCLI(t, "namespace", "create", "my-namespace", "--description", "from the CLI")
	if out := mustCLI(t, "namespace", "get", "my-namespace"); !strings.Contains(out, `"description": "from the CLI"`) {
		t.Fatalf("namespace get: %s", out)
	}
	t.Setenv("DEFAULT_NAMESPACE", "my-namespace") // the guide's variable
	out := mustCLI(t, "broker", "create", "example-broker", "--expiration", "2d")
	if !strings.Contains(out, `"expiration": 172800`) || !strings.Contains(out, "mqtts://example-broker.my-namespace.pubsub.localhost:") {
		t.Fatalf("broker create: %s", out)
	}
	if out := mustCLI(t, "broker", "update", "example-broker", "--expiration", "none", "--description", "d"); !strings.Contains(out, `"expiration": null`) {
		t.Fatalf("broker update: %s", out)
	}
	if out := mustCLI(t, "broker", "list", "--ns", "my-namespace"); !strings.Contains(out, `"name": "example-broker"`) {
		t.Fatalf("broker list: %s", out)
	}
	var creds map[string]string
	if err := json.Unmarshal([]byte(mustCLI(t, "broker", "issue", "example-broker", "-n", "3", "--topic-acl", "devices/#")), &creds); err != nil || len(creds) != 3 {
		t.Fatalf("issue: %v %v", err, creds)
	}
	var list []struct{ JTI string }
	c, _ := newAPIClient()
	if err := c.do(context.Background(), "GET", "/namespaces/my-namespace/brokers/example-broker/credentials/list", nil, nil, &list); err != nil || len(list) != 3 {
		t.Fatalf("credentials/list: %v %d", err, len(list))
	}
	mustCLI(t, "broker", "revoke", "example-broker", "--jti", list[0].JTI+","+list[1].JTI)
	if out := mustCLI(t, "broker", "revocations", "example-broker"); !strings.Contains(out, list[0].JTI) || !strings.Contains(out, list[1].JTI) {
		t.Fatalf("revocations: %s", out)
	}
	mustCLI(t, "broker", "unrevoke", "example-broker", "--jti", list[0].JTI)
	out = mustCLI(t, "broker", "update", "example-broker", "--on-publish-url", "https://hook.example/p",
		"--on-publish-filter", "a/#", "--on-publish-filter", "b/+", "--on-publish-timeout", "5", "--on-publish-on-failure", "pass", "--on-publish-mode", "notify")
	for _, want := range []string{`"url": "https://hook.example/p"`, `"a/#"`, `"b/+"`, `"timeout": 5`, `"on_failure": "pass"`, `"mode": "notify"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("update --on-publish-*: %s lacks %s", out, want)
		}
	}
	if _, _, err := cli(t, context.Background(), "broker", "update", "example-broker", "--on-publish-url", "https://hook.example/p", "--on-publish-mode", "filter"); err == nil || !strings.Contains(err.Error(), "on_publish.mode") {
		t.Fatalf("a bad mode: %v", err)
	}
	if out := mustCLI(t, "broker", "rotate-keys", "example-broker"); !strings.Contains(out, `"retired": [`) {
		t.Fatalf("rotate-keys: %s", out)
	}
	if out := mustCLI(t, "broker", "public-keys", "example-broker"); strings.Count(out, `"kid"`) != 4 { // current, next, retired, hook
		t.Fatalf("public-keys after a rotation: %s", out)
	}

	// Refusals carry the API's message.
	_, _, err := cli(t, context.Background(), "namespace", "delete", "my-namespace")
	if err == nil || !strings.Contains(err.Error(), `still has brokers ("example-broker")`) || !strings.Contains(err.Error(), "code 10022") {
		t.Fatalf("namespace delete with brokers: %v", err)
	}
	_, _, err = cli(t, context.Background(), "broker", "issue", "example-broker", "--topic-acl", "a/#/b")
	if err == nil || !strings.Contains(err.Error(), "topicAcl") {
		t.Fatalf("bad ACL: %v", err)
	}
	_, _, err = cli(t, context.Background(), "broker", "issue", "example-broker", "--expiration", "20000d")
	if err == nil || !strings.Contains(err.Error(), "expiration must be at most 315360000 seconds (3650 days), or -1 for no expiration; got 1728000000 (HTTP 400, code 10040)") {
		t.Fatalf("issue with too long an expiration: %v", err)
	}
	_, _, err = cli(t, context.Background(), "broker", "update", "example-broker", "--expiration", "20000d")
	if err == nil || !strings.Contains(err.Error(), "expiration must be at most 315360000 seconds (3650 days), or null for none; got 1728000000 (HTTP 400, code 10012)") {
		t.Fatalf("update with too long an expiration: %v", err)
	}
	_, _, err = cli(t, context.Background(), "broker", "issue", "example-broker", "--expiration", "1e300d")
	if err == nil || !strings.Contains(err.Error(), `"1e300d" is too long a lifetime`) {
		t.Fatalf("issue with an expiration past int64: %v", err)
	}
	mustCLI(t, "broker", "delete", "example-broker")
	mustCLI(t, "namespace", "delete", "my-namespace")
}

// TestIssueResumes interrupts a bulk mint, then runs the same command again:
// the second run mints only what is missing.
func TestIssueResumes(t *testing.T) {
	d := devEnv(t)
	t.Setenv("PUBSUB_NAMESPACE", "ns")
	mustCLI(t, "namespace", "create", "ns")
	mustCLI(t, "broker", "create", "b")
	out := filepath.Join(t.TempDir(), "creds.json")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := cli(t, ctx, "broker", "issue", "b", "-n", "2000", "--out", out, "--concurrency", "1")
		done <- err
	}()
	// Interrupt once some batches are saved.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if raw, _ := os.ReadFile(out + ".partial"); bytes.Count(raw, []byte("\n")) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no batch was saved")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	err := <-done
	if err == nil || !strings.Contains(err.Error(), "interrupted after") || !strings.Contains(err.Error(), "run the same command again") {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("an interrupted run must not write the final file")
	}

	_, errOut, err := cli(t, context.Background(), "broker", "issue", "b", "-n", "2000", "--out", out)
	if err != nil || !strings.Contains(errOut, "Resuming:") {
		t.Fatalf("resume: %v\n%s", err, errOut)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]string
	if err := json.Unmarshal(raw, &creds); err != nil || len(creds) != 2000 {
		t.Fatalf("final file: %v, %d credentials", err, len(creds))
	}
	if _, err := os.Stat(out + ".partial"); err == nil {
		t.Fatal("the journal must be removed after success")
	}
	// Nothing was minted twice: the store holds exactly 2000 credentials.
	_, total, err := d.ControlPlane.Service.ListCredentials(context.Background(), d.Env["CF_ACCOUNT_ID"], "ns", "b", controlplane.Page{Page: 1, PerPage: 1})
	if err != nil || total != 2000 {
		t.Fatalf("minted %d credentials in all (%v), want 2000", total, err)
	}
}

// BenchmarkIssue10000 times `pubsub broker issue -n 10000 --out FILE`
// against a dev stack on loopback (embedded store).
func BenchmarkIssue10000(b *testing.B) {
	devEnv(b)
	b.Setenv("PUBSUB_NAMESPACE", "ns")
	mustCLI(b, "namespace", "create", "ns")
	mustCLI(b, "broker", "create", "b")
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		out := filepath.Join(dir, "creds.json")
		os.Remove(out)
		start := time.Now()
		mustCLI(b, "broker", "issue", "b", "-n", "10000", "--out", out)
		b.ReportMetric(time.Since(start).Seconds(), "s/10000")
	}
}

// TestHealthcheck: pubsub healthcheck succeeds on a 200 and fails with the
// status and body otherwise, for the container image, which has no curl.
func TestHealthcheck(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready: no config yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck", "--url", srv.URL}, &out, &errOut); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	ready.Store(false)
	err := run(context.Background(), []string{"healthcheck", "--url", srv.URL}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "no config yet") {
		t.Errorf("not ready: %v, want the 503 and its body", err)
	}
	if err := run(context.Background(), []string{"healthcheck", "--url", "http://127.0.0.1:1/readyz"}, &out, &errOut); err == nil {
		t.Error("nothing listening: no error")
	}
}
