package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// requireBrowser returns Debian's Chromium, checking that playwright-core
// is installed to drive it; under CI=true a missing one fails.
func requireBrowser(t *testing.T) string {
	t.Helper()
	requireNodeModules(t)
	chromium := requireTool(t, "chromium")
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("playwright-core is missing from e2e/node_modules: run `npm ci --prefix e2e`")
		}
		t.Skip("playwright-core is missing: run `npm ci --prefix e2e`")
	}
	return chromium
}

// TestConsole drives the operators' console in headless Chromium against
// `pubsub dev`: it signs in with the email and global key (kept in
// sessionStorage, no cookie) and out (nothing kept), then with the API
// token (after a wrong one is refused), creates a namespace and a broker and edits it, mints 5
// credentials and downloads them, rotates the keys, watches a topic filter
// while an MQTT client publishes with one of those credentials, publishes
// from the console to that client (retained, then listed and deleted on
// the Retained page), sees the broker's counters and charts
// on the Overview page, finds two MQTT clients on the Clients
// page (and one by search), disconnects one (0x98) and revokes the other's
// token (0x87, and it cannot connect again), sees the list empty, and
// deletes the broker. It saves a screenshot
// of each page into $PUBSUB_CONSOLE_SCREENSHOTS (docs/img for the README).
func TestConsole(t *testing.T) {
	chromium := requireBrowser(t)
	// As `pubsub dev` does, the node allows http:// hooks on loopback.
	d := startDev(t, t.TempDir(), func(c *app.DevConfig) { c.Hooks.AllowHTTP = true })
	// The dev CA signs one leaf per hostname for the life of the process:
	// Chromium trusts exactly that leaf's key.
	leaf, err := d.CA.GetCertificate(&tls.ClientHelloInfo{ServerName: brokerHost})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Leaf.RawSubjectPublicKeyInfo)
	spki := base64.StdEncoding.EncodeToString(sum[:])
	shots := os.Getenv("PUBSUB_CONSOLE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if shots, err = filepath.Abs(shots); err != nil {
		t.Fatal(err)
	}

	wd, _ := os.Getwd()
	consoleURL := "http://" + d.ControlPlane.Addr() + "/console/"
	cmd := exec.Command("node", filepath.Join(wd, "console", "console.mjs"), consoleURL, d.Env["CF_ACCOUNT_ID"], d.Env["CF_API_TOKEN"], spki, shots)
	// An on-publish hook that passes every message unchanged: the
	// Overview page shows its outcomes.
	var hookCalls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookCalls.Add(1)
		_, _ = io.Copy(w, r.Body)
	}))
	defer hook.Close()
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "EMAIL="+d.Env["CF_API_EMAIL"], "API_KEY="+d.Env["CF_API_KEY"], "HOOK_URL="+hook.URL+"/hook")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := startProcess(t, cmd)
	waitLine(t, lines, "KEY-SIGN-IN", 60*time.Second)
	waitLine(t, lines, "SIGNED-IN", 30*time.Second)
	waitLine(t, lines, "BROKER", 30*time.Second)
	waitLine(t, lines, "EDITED", 30*time.Second)
	b, err := d.ControlPlane.Service.FindBroker(context.Background(), d.Env["CF_ACCOUNT_ID"], "my-namespace", "example-broker")
	if err != nil || b.Description != "edited by the console" || b.Expiration == nil || *b.Expiration != 86400 || b.OnPublishURL != hook.URL+"/hook" {
		t.Fatalf("the edit did not reach the API: %+v, %v", b, err)
	}
	tokens := map[string]string{}
	for range 5 {
		f := strings.Fields(waitLine(t, lines, "TOKEN ", 30*time.Second))
		if len(f) != 3 {
			t.Fatalf("bad TOKEN line %q", f)
		}
		tokens[f[1]] = f[2]
	}
	if got := waitLine(t, lines, "DOWNLOADED", 30*time.Second); !strings.HasSuffix(got, "example-broker-credentials.json") {
		t.Fatalf("download: %q", got)
	}
	waitLine(t, lines, "MINTED", 30*time.Second)
	if len(tokens) != 5 {
		t.Fatalf("the console showed %d distinct credentials, want 5", len(tokens))
	}
	creds, total, err := d.ControlPlane.Service.ListCredentials(context.Background(), d.Env["CF_ACCOUNT_ID"], "my-namespace", "example-broker", controlplane.Page{Page: 1, PerPage: 100})
	if err != nil || total != 5 || len(creds) != 5 {
		t.Fatalf("the API lists %d credentials (%v), want 5", total, err)
	}

	waitLine(t, lines, "WATCHING", 60*time.Second)
	ids := slices.Sorted(maps.Keys(tokens))
	first, second := ids[0], ids[1]
	c, _, err := dialBroker(t, d, brokerHost, tokens[first])
	if err != nil {
		t.Fatal(err)
	}
	c2, _, err := dialBroker(t, d, brokerHost, tokens[second])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "console/out"}}}); err != nil {
		t.Fatal(err)
	}
	text := "hello console at " + time.Now().Format(time.RFC3339Nano)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "console/in", QoS: 1, Payload: []byte(text)}); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(stdin, text)
	waitLine(t, lines, "RECEIVED "+text, 30*time.Second)
	waitLine(t, lines, "PUBLISHED", 30*time.Second)
	select {
	case m := <-c.msgs:
		if string(m.Payload) != "sent by the console" {
			t.Fatalf("MQTT got %q", m.Payload)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the console's publish did not reach MQTT")
	}

	// Clients: the second is disconnected (0x98), the first's token revoked (0x87).
	fmt.Fprintln(stdin, first+" "+second)
	waitLine(t, lines, "RETAINED", 30*time.Second)
	waitLine(t, lines, "OVERVIEW", 30*time.Second)
	if hookCalls.Load() == 0 {
		t.Error("the console showed hook outcomes, but the hook was never called")
	}
	waitLine(t, lines, "DISCONNECTED", 30*time.Second)
	expectDisconnect(t, c2, 0x98)
	fmt.Fprintln(stdin, "go on")
	waitLine(t, lines, "REVOKED", 30*time.Second)
	expectDisconnect(t, c, 0x87)
	if _, _, err := dialBroker(t, d, brokerHost, tokens[first]); err == nil {
		t.Fatal("the revoked token connected again")
	}
	fmt.Fprintln(stdin, "go on")
	waitLine(t, lines, "GONE", 30*time.Second)
	fmt.Fprintln(stdin, "go on")
	waitLine(t, lines, "DELETED", 30*time.Second)
	if _, err := d.ControlPlane.Service.FindBroker(context.Background(), d.Env["CF_ACCOUNT_ID"], "my-namespace", "example-broker"); controlplane.ErrorCode(err) != controlplane.ENOTFOUND {
		t.Fatalf("the broker is still there: %v", err)
	}
	stdin.Close() // the script's reader ends, and so does node
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the browser script failed: %v", err)
	}
}

// expectDisconnect waits for the server's DISCONNECT with this reason code.
func expectDisconnect(t *testing.T, c *mqttClient, code byte) {
	t.Helper()
	select {
	case dc := <-c.disc:
		if dc.ReasonCode != code {
			t.Fatalf("DISCONNECT reason %#x, want %#x", dc.ReasonCode, code)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no DISCONNECT %#x", code)
	}
}
