package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/internal/app"
)

// wranglerDeadline bounds one wrangler command. Each answers in about a
// second against the local API; a command that waits on the internet
// (telemetry, update checks) fails the test instead of hanging it.
const wranglerDeadline = 90 * time.Second

// wranglerCLI runs Cloudflare's CLI from e2e/node_modules against the dev
// stack, as a user with CLOUDFLARE_API_BASE_URL set would, offline: no
// telemetry, no error reports, no config or logs outside a temp dir.
type wranglerCLI struct {
	bin string
	dir string
	env []string
}

func newWrangler(t *testing.T, d *app.Dev, auth ...string) *wranglerCLI {
	t.Helper()
	requireNodeModules(t)
	bin, err := filepath.Abs(filepath.Join("node_modules", "wrangler", "bin", "wrangler.js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("wrangler is missing from e2e/node_modules: run `npm ci --prefix e2e` (make test does)")
		}
		t.Skip("wrangler is missing from e2e/node_modules: run `npm ci --prefix e2e`")
	}
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		// The caller's own Cloudflare settings must not leak in.
		if !strings.HasPrefix(kv, "CLOUDFLARE_") && !strings.HasPrefix(kv, "CF_") && !strings.HasPrefix(kv, "WRANGLER_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"CLOUDFLARE_API_BASE_URL="+d.Env["PUBSUB_API_URL"],
		"CLOUDFLARE_ACCOUNT_ID="+d.Env["CF_ACCOUNT_ID"],
		"WRANGLER_SEND_METRICS=false",
		"WRANGLER_SEND_ERROR_REPORTS=false",
		// wrangler looks for a newer version of itself in the npm registry
		// named by npm's rc files (the npm_ prefix of the rc package);
		// point it at a closed loopback port so it gives up at once.
		"npm_registry=http://127.0.0.1:9/",
		"TMPDIR="+home,
		"WRANGLER_LOG_PATH="+filepath.Join(home, "logs"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"HOME="+home,
		"NO_COLOR=1",
		"FORCE_COLOR=0",
	)
	env = append(env, auth...)
	return &wranglerCLI{bin: bin, dir: home, env: env}
}

// run runs `wrangler args...` and returns its stdout; any failure, or a
// command still running after wranglerDeadline, fails the test.
func (w *wranglerCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := w.try(args...)
	if err != nil {
		t.Fatalf("wrangler %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// try runs `wrangler args...` and returns stdout, stderr and the error.
func (w *wranglerCLI) try(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wranglerDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{w.bin}, args...)...)
	cmd.Dir = w.dir
	cmd.Env = w.env
	cmd.Stdin = nil // not a terminal: wrangler answers its own confirmations with "yes"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return out.String(), errb.String(), err
}

// apiGet reads a result from the API with the dev account's API token.
func apiGet(t *testing.T, d *app.Dev, path string, result any) {
	t.Helper()
	req, err := http.NewRequest("GET", d.Env["PUBSUB_API_URL"]+"/accounts/"+d.Env["CF_ACCOUNT_ID"]+"/pubsub"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.Env["CF_API_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	decode(t, buf.String(), result)
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// tokenClaims decodes the claims of the tokens printed in out.
func tokenClaims(t *testing.T, out string) []map[string]any {
	t.Helper()
	var claims []map[string]any
	for _, tok := range jwtRE.FindAllString(out, -1) {
		seg, err := decodeSegment(strings.Split(tok, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(seg, &c); err != nil {
			t.Fatal(err)
		}
		claims = append(claims, c)
	}
	return claims
}

// TestWrangler drives Cloudflare's own CLI, wrangler 3 from npm, through
// every `wrangler pubsub` verb against the dev stack, and checks each
// verb's effect through the API.
func TestWrangler(t *testing.T) {
	d := startDev(t, t.TempDir())
	w := newWrangler(t, d, "CLOUDFLARE_API_TOKEN="+d.Env["CF_API_TOKEN"])

	// Namespaces.
	w.run(t, "pubsub", "namespace", "create", "wr-ns", "--description", "from wrangler")
	var ns map[string]any
	apiGet(t, d, "/namespaces/wr-ns", &ns)
	if ns["description"] != "from wrangler" {
		t.Fatalf("namespace create: %v", ns)
	}
	if out := w.run(t, "pubsub", "namespace", "list"); !strings.Contains(out, "wr-ns") {
		t.Fatalf("namespace list: %s", out)
	}
	if out := w.run(t, "pubsub", "namespace", "describe", "wr-ns"); !strings.Contains(out, "from wrangler") || !strings.Contains(out, ns["id"].(string)) {
		t.Fatalf("namespace describe: %s", out)
	}

	// Brokers: wrangler sends human durations as seconds. Its year is 365
	// weeks (220,752,000 s), which is under our 3650-day limit.
	out := w.run(t, "pubsub", "broker", "create", "wr-broker", "--namespace", "wr-ns", "--description", "a broker",
		"--expiration", "1y", "--on-publish-url", "https://hooks.example.com/pubsub")
	if !strings.Contains(out, "wr-broker") || !strings.Contains(out, "mqtts://wr-broker.wr-ns.pubsub.localhost") {
		t.Fatalf("broker create: %s", out)
	}
	var b map[string]any
	apiGet(t, d, "/namespaces/wr-ns/brokers/wr-broker", &b)
	if b["description"] != "a broker" || b["expiration"] != float64(365*7*24*3600) || b["on_publish"].(map[string]any)["url"] != "https://hooks.example.com/pubsub" {
		t.Fatalf("broker create stored: %v", b)
	}
	w.run(t, "pubsub", "broker", "update", "wr-broker", "--ns", "wr-ns", "--description", "renamed", "--expiration", "6 days")
	apiGet(t, d, "/namespaces/wr-ns/brokers/wr-broker", &b)
	if b["description"] != "renamed" || b["expiration"] != float64(6*24*3600) {
		t.Fatalf("broker update: %v", b)
	}
	if out := w.run(t, "pubsub", "broker", "list", "--ns", "wr-ns"); !strings.Contains(out, "wr-broker") || !strings.Contains(out, "renamed") {
		t.Fatalf("broker list: %s", out)
	}
	if out := w.run(t, "pubsub", "broker", "describe", "wr-broker", "--ns", "wr-ns"); !strings.Contains(out, b["id"].(string)) {
		t.Fatalf("broker describe: %s", out)
	}
	var keys struct {
		Keys []struct{ Kid string }
	}
	apiGet(t, d, "/namespaces/wr-ns/brokers/wr-broker/publickeys", &keys)
	out = w.run(t, "pubsub", "broker", "public-keys", "wr-broker", "--ns", "wr-ns")
	for _, k := range keys.Keys {
		if !strings.Contains(out, k.Kid) {
			t.Fatalf("public-keys lacks %s: %s", k.Kid, out)
		}
	}

	// Credentials: the default (number=1), a count, and client ids, for
	// which wrangler still sends number=1.
	issue := func(t *testing.T, args ...string) []map[string]any {
		t.Helper()
		out := w.run(t, append([]string{"pubsub", "broker", "issue", "wr-broker", "--ns", "wr-ns"}, args...)...)
		return tokenClaims(t, out)
	}
	if c := issue(t); len(c) != 1 || !strings.HasPrefix(c[0]["sub"].(string), "wr-broker") {
		t.Fatalf("issue: %v", c)
	}
	if c := issue(t, "-n", "3"); len(c) != 3 {
		t.Fatalf("issue -n 3: %v", c)
	}
	byClient := issue(t, "--client-id", "device-a", "device-b", "--expiration", "1h")
	if len(byClient) != 2 || byClient[0]["sub"] != "device-a" || byClient[1]["sub"] != "device-b" {
		t.Fatalf("issue --client-id a b: %v", byClient)
	}
	for _, c := range byClient {
		if life := c["exp"].(float64) - c["iat"].(float64); life != 3600 {
			t.Fatalf("issue --expiration 1h: lifetime %v", life)
		}
	}
	if c := issue(t, "--jti", "device-c", "--exp", "30d"); len(c) != 1 || c[0]["sub"] != "device-c" { // --jti is wrangler's alias of --client-id here
		t.Fatalf("issue --jti: %v", c)
	}

	// Revocations.
	jtiA, jtiB := byClient[0]["jti"].(string), byClient[1]["jti"].(string)
	w.run(t, "pubsub", "broker", "revoke", "wr-broker", "--ns", "wr-ns", "--jti", jtiA, jtiB)
	var revs []map[string]any
	apiGet(t, d, "/namespaces/wr-ns/brokers/wr-broker/revocations", &revs)
	if len(revs) != 2 {
		t.Fatalf("revoke: %v", revs)
	}
	if out := w.run(t, "pubsub", "broker", "show-revocations", "wr-broker", "--ns", "wr-ns"); !strings.Contains(out, jtiA) || !strings.Contains(out, jtiB) {
		t.Fatalf("show-revocations: %s", out)
	}
	w.run(t, "pubsub", "broker", "unrevoke", "wr-broker", "--ns", "wr-ns", "--jti", jtiA)
	apiGet(t, d, "/namespaces/wr-ns/brokers/wr-broker/revocations", &revs)
	if len(revs) != 1 || revs[0]["jti"] != jtiB {
		t.Fatalf("unrevoke: %v", revs)
	}

	// An API error reaches the user with our code and message.
	_, errOut, err := w.try("pubsub", "broker", "describe", "nope", "--ns", "wr-ns")
	if err == nil || !strings.Contains(errOut+"", `broker "nope" not found`) || !strings.Contains(errOut, "10020") {
		t.Fatalf("describe of an unknown broker: err %v, stderr %s", err, errOut)
	}

	// Deletes: not a terminal, so wrangler confirms by itself. A namespace
	// with a broker is refused, naming it.
	if _, errOut, err := w.try("pubsub", "namespace", "delete", "wr-ns"); err == nil || !strings.Contains(errOut, "wr-broker") {
		t.Fatalf("namespace delete with a broker: err %v, stderr %s", err, errOut)
	}
	w.run(t, "pubsub", "broker", "delete", "wr-broker", "--ns", "wr-ns")
	w.run(t, "pubsub", "namespace", "delete", "wr-ns")
	var left []map[string]any
	apiGet(t, d, "/namespaces", &left)
	for _, n := range left {
		if n["name"] == "wr-ns" {
			t.Fatalf("namespace delete left %v", left)
		}
	}
}

// TestWranglerGlobalKey authenticates wrangler with the global API key
// (CLOUDFLARE_API_KEY and CLOUDFLARE_EMAIL), its other way to log in.
func TestWranglerGlobalKey(t *testing.T) {
	d := startDev(t, t.TempDir())
	w := newWrangler(t, d, "CLOUDFLARE_API_KEY="+d.Env["CF_API_KEY"], "CLOUDFLARE_EMAIL="+d.Env["CF_API_EMAIL"])
	w.run(t, "pubsub", "namespace", "create", "key-ns")
	if out := w.run(t, "pubsub", "namespace", "list"); !strings.Contains(out, "key-ns") {
		t.Fatalf("namespace list: %s", out)
	}
}

// TestWranglerEnvFile: after `source .pubsub/env`, wrangler finds its own
// CLOUDFLARE_* variables there and needs nothing else.
func TestWranglerEnvFile(t *testing.T) {
	d := startDev(t, t.TempDir())
	raw, err := os.ReadFile(d.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	var auth []string
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || !strings.HasPrefix(k, "CLOUDFLARE_") {
			continue
		}
		if v, err = strconv.Unquote(v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		auth = append(auth, k+"="+v)
	}
	if len(auth) != 5 {
		t.Fatalf("env file has %d CLOUDFLARE_ variables, want 5:\n%s", len(auth), raw)
	}
	w := newWrangler(t, d, auth...) // these come last and win over newWrangler's own
	w.run(t, "pubsub", "namespace", "create", "env-ns")
	if out := w.run(t, "pubsub", "namespace", "list"); !strings.Contains(out, "env-ns") {
		t.Fatalf("namespace list: %s", out)
	}
}
