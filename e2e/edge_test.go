package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/internal/app"
)

// edgeDomain is the {DOMAIN} of fastly's README for this run: the
// broker's hostname and the dev stack's HTTPS port.
func edgeDomain(d *app.Dev) string {
	return fmt.Sprintf("%s:%d", brokerHost, d.Node.HTTPSPort())
}

// oneToken mints one credential of example-broker with the guide's
// commands and returns it.
func oneToken(t *testing.T, d *app.Dev) string {
	t.Helper()
	for _, tok := range setupBroker(t, d, 1) {
		return tok
	}
	t.Fatal("no token minted")
	return ""
}

// fastly's README, "SSE" and "Publishing via HTTP": the two curl
// commands, with {DOMAIN} and $TOKEN the only changes. The README's
// publish command lacks the backslash after its -d line, so the shell
// would run the URL as a separate command; the one character added here
// is that backslash (README.md, "HTTP edge", says so). CURL_CA_BUNDLE
// makes curl trust the dev CA without changing the commands.
const (
	readmeSubscribe = `curl \
  -H "Authorization: Bearer $TOKEN" \
  "https://{DOMAIN}/events?topic=topic1&topic=topic2"`
	readmePublish = `curl \
  -H "Authorization: Bearer $TOKEN" \
  -d '{"text":"hello world"}' \
  "https://{DOMAIN}/events?topic=topic1"`
)

// TestReadmeCurl runs the curl SSE subscribe and the curl publish of
// fastly's README against `pubsub dev`.
func TestReadmeCurl(t *testing.T) {
	requireTool(t, "curl")
	requireTool(t, "stdbuf")
	d := startDev(t, t.TempDir())
	tok := oneToken(t, d)
	env := append(os.Environ(), "TOKEN="+tok, "CURL_CA_BUNDLE="+d.CA.CAFile())
	sub := exec.Command("stdbuf", "-o0", "bash", "-c", strings.ReplaceAll(readmeSubscribe, "{DOMAIN}", edgeDomain(d)))
	sub.Env = env
	lines := startProcess(t, sub)
	waitLine(t, lines, "event: stream-open", 10*time.Second)

	pub := exec.Command("bash", "-c", strings.ReplaceAll(readmePublish, "{DOMAIN}", edgeDomain(d)))
	pub.Env = env
	out, err := pub.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"success":true`) || !strings.Contains(string(out), `"id":"`) {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	waitLine(t, lines, "event: message", 10*time.Second)
	if l := waitLine(t, lines, "data: ", 10*time.Second); l != `data: {"text":"hello world"}` {
		t.Fatalf("got %q", l)
	}
}

// TestReadmeMQTTJS runs the MQTT.js example of fastly's README (MQTT over
// WebSocket at wss://{DOMAIN}/mqtt) with only the host and token
// changed: it connects, subscribes, and receives its own message.
func TestReadmeMQTTJS(t *testing.T) {
	requireNodeModules(t)
	d := startDev(t, t.TempDir())
	tok := oneToken(t, d)
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

// TestBrowserExamplePage loads the dev stack's example page in headless
// Chromium: the page subscribes with EventSource, shows a message
// published over MQTT, and publishes with fetch to an MQTT subscriber.
//
// Chromium trusts the page's certificate through
// --ignore-certificate-errors-spki-list with the SHA-256 of that leaf's
// public key, so every other certificate check stays on; the dev CA
// keeps one leaf key per hostname for the life of the process.
func TestBrowserExamplePage(t *testing.T) {
	requireNodeModules(t)
	chromium := requireTool(t, "chromium")
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("playwright-core is missing from e2e/node_modules: run `npm ci --prefix e2e`")
		}
		t.Skip("playwright-core is missing: run `npm ci --prefix e2e`")
	}
	d := startDev(t, t.TempDir())
	tok := oneToken(t, d)
	leaf, err := d.CA.GetCertificate(&tls.ClientHelloInfo{ServerName: brokerHost})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Leaf.RawSubjectPublicKeyInfo)
	spki := base64.StdEncoding.EncodeToString(sum[:])

	c, _, err := dialBroker(t, d, brokerHost, tok)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "browser/out"}}}); err != nil {
		t.Fatal(err)
	}

	wd, _ := os.Getwd()
	cmd := exec.Command("node", filepath.Join(wd, "edge", "browser.mjs"), "https://"+edgeDomain(d)+"/", tok, spki)
	// PUBSUB_SCREENSHOT keeps a picture of the page with the message shown.
	shot := os.Getenv("PUBSUB_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "page.png")
	}
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "SCREENSHOT="+shot)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := startProcess(t, cmd)
	waitLine(t, lines, "READY", 60*time.Second)
	text := "hello browser at " + time.Now().Format(time.RFC3339Nano)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "browser/in", QoS: 1, Payload: []byte(text)}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, text)
	waitLine(t, lines, "RECEIVED "+text, 30*time.Second)
	waitLine(t, lines, "PUBLISHED", 30*time.Second)
	select {
	case m := <-c.msgs:
		if string(m.Payload) != "sent by the page" || m.Properties.ContentType != "text/plain; charset=utf-8" {
			t.Fatalf("MQTT got %q (%q)", m.Payload, m.Properties.ContentType)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the page's publish did not reach MQTT")
	}
}
