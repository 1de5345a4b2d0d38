package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/internal/app"
)

// fastly's README, "Keys and tokens": the key request (curl) and the
// PyJWT example, verbatim but for {DOMAIN}, {KEY_ID} and {KEY_VALUE}.
const (
	readmeAdminKeys = `curl -X POST -H "Fastly-Key: $FASTLY_API_TOKEN" https://{DOMAIN}/admin/keys`
	readmePyJWT     = `import jwt
import time

jwt.encode({
    "exp": int(time.time())+3600,
    "x-fastly-read": ["topic1","topic2"],
    "x-fastly-write": ["topic1","topic2"],
}, "{KEY_VALUE}", headers={"kid":"{KEY_ID}"})
`
	// evalLast runs a script read from stdin and prints the value of its
	// last expression, as the interactive interpreter a README reader
	// pastes it into would.
	evalLast = `import ast, sys
tree = ast.parse(sys.stdin.read())
last = tree.body.pop()
scope = {}
exec(compile(tree, "readme", "exec"), scope)
print(eval(compile(ast.Expression(last.value), "readme", "eval"), scope))
`
)

// pythonWithJWT returns a python3 that imports PyJWT (Debian's
// python3-jwt); it fails under CI=true when there is none, else skips.
func pythonWithJWT(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import jwt").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PyJWT is not installed: apt-get install python3-jwt")
	}
	t.Skip("PyJWT is not installed: apt-get install python3-jwt")
	return ""
}

// TestReadmeSelfSigned follows fastly's README with a self-signed token:
// its curl creates a key on the broker's own host with the account's API
// token as Fastly-Key, its PyJWT example mints a token with that key, and
// the token subscribes over SSE, publishes over HTTP (its curl commands)
// and over MQTT.js on WebSocket.
func TestReadmeSelfSigned(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "stdbuf")
	py := pythonWithJWT(t)
	d := startDev(t, t.TempDir())
	shell(t, d, guideStep3)
	shell(t, d, guideStep4)
	var b struct {
		SelfSignedTokens bool `json:"self_signed_tokens"`
	}
	decode(t, shell(t, d, `curl -s -X PATCH -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker" --data '{"self_signed_tokens": true}'`), &b)
	if !b.SelfSignedTokens {
		t.Fatal("PATCH did not enable self_signed_tokens")
	}

	env := append(os.Environ(), "FASTLY_API_TOKEN="+d.Env["CF_API_TOKEN"], "CURL_CA_BUNDLE="+d.CA.CAFile())
	var key struct{ ID, Value string }
	// The node serves the broker once the feed has brought it.
	poll(t, "POST /admin/keys", func() bool {
		cmd := exec.Command("bash", "-c", strings.ReplaceAll(readmeAdminKeys, "{DOMAIN}", edgeDomain(d)))
		cmd.Env = env
		out, err := cmd.Output()
		return err == nil && json.Unmarshal(out, &key) == nil && len(key.ID) == 8 && len(key.Value) == 40
	})

	src := strings.NewReplacer("{KEY_ID}", key.ID, "{KEY_VALUE}", key.Value).Replace(readmePyJWT)
	cmd := exec.Command(py, "-c", evalLast)
	cmd.Stdin = strings.NewReader(src)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("PyJWT: %v", err)
	}
	tok := strings.TrimSpace(string(out))
	env = append(env, "TOKEN="+tok)

	publish := func() string {
		pub := exec.Command("bash", "-c", strings.ReplaceAll(readmePublish, "{DOMAIN}", edgeDomain(d)))
		pub.Env = env
		out, _ := pub.CombinedOutput()
		return string(out)
	}
	// The key reaches the node through the feed.
	poll(t, "a publish with the new key", func() bool { return strings.Contains(publish(), `"success":true`) })

	sub := exec.Command("stdbuf", "-o0", "bash", "-c", strings.ReplaceAll(readmeSubscribe, "{DOMAIN}", edgeDomain(d)))
	sub.Env = env
	lines := startProcess(t, sub)
	waitLine(t, lines, "event: stream-open", 10*time.Second)
	if out := publish(); !strings.Contains(out, `"success":true`) {
		t.Fatalf("publish: %s", out)
	}
	waitLine(t, lines, "event: message", 10*time.Second)
	if l := waitLine(t, lines, "data: ", 10*time.Second); l != `data: {"text":"hello world"}` {
		t.Fatalf("got %q", l)
	}

	t.Run("MQTTJS", func(t *testing.T) {
		requireNodeModules(t)
		runReadmeMQTTJS(t, d, tok)
	})
}

// runReadmeMQTTJS runs the MQTT.js example of fastly's README with tok.
func runReadmeMQTTJS(t *testing.T, d *app.Dev, tok string) {
	t.Helper()
	src, err := os.ReadFile("edge/readme-mqtt.js")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.ReplaceAll(string(src), "{DOMAIN}", edgeDomain(d))
	script = strings.ReplaceAll(script, "{token with read/write access to topic1}", tok)
	path := filepath.Join(t.TempDir(), "index.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	cmd := exec.Command("node", path)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+filepath.Join(wd, "node_modules"),
		"NODE_EXTRA_CA_CERTS="+d.CA.CAFile(),
		"NODE_OPTIONS=--require "+filepath.Join(wd, "resolve-localhost.cjs"))
	lines := startProcess(t, cmd)
	waitLine(t, lines, "connected", 20*time.Second)
	waitLine(t, lines, "subscribed", 10*time.Second)
	waitLine(t, lines, "Hello mqtt", 10*time.Second)
}

// poll calls cond until it holds, failing after 10 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}
