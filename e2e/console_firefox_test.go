package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestConsoleFirefox loads the console in Debian's headless Firefox ESR,
// driven over WebDriver BiDi (bidi_test.go), against `pubsub dev`: it
// signs in with the API token, lists the namespaces, opens the broker,
// finds an MQTT client with its message counters on the Clients page,
// sees the Overview's table and charts, and watches a topic filter over
// SSE while the client publishes. Every page must render without a
// JavaScript error. Screenshots go to $PUBSUB_CONSOLE_SCREENSHOTS as
// console-firefox-*.png when it is set.
func TestConsoleFirefox(t *testing.T) {
	firefox := requireTool(t, "firefox-esr")
	d := startDev(t, t.TempDir())
	creds := setupBroker(t, d, 1)
	ids := slices.Sorted(maps.Keys(creds))
	if len(ids) != 1 {
		t.Fatalf("credentials: %v", creds)
	}
	id := ids[0]
	c, _, err := dialBroker(t, d, brokerHost, creds[id])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "fx/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "fx/a", QoS: 1, Payload: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.msgs:
	case <-ctx.Done():
		t.Fatal("the client did not get its own message")
	}

	shots := os.Getenv("PUBSUB_CONSOLE_SCREENSHOTS")
	shot := func(tb *tab, name string) {
		t.Helper()
		raw := tb.screenshot()
		cfg, err := png.DecodeConfig(bytes.NewReader(raw))
		if err != nil || cfg.Width < 800 || cfg.Height < 400 {
			t.Fatalf("screenshot %s: %dx%d, %v", name, cfg.Width, cfg.Height, err)
		}
		if shots != "" {
			if err := os.WriteFile(filepath.Join(shots, "console-firefox-"+name+".png"), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	b := startFirefox(t, firefox, map[string]any{
		// The broker's hostname resolves to loopback, as the dev stack's
		// *.localhost names do for Chromium.
		"network.dns.localDomains": brokerHost,
		// Nothing the test does not ask for.
		"browser.shell.checkDefaultBrowser":             false,
		"datareporting.policy.dataSubmissionEnabled":    false,
		"toolkit.telemetry.enabled":                     false,
		"browser.safebrowsing.malware.enabled":          false,
		"browser.safebrowsing.phishing.enabled":         false,
		"browser.safebrowsing.downloads.remote.enabled": false,
		"extensions.update.enabled":                     false,
		"app.update.disabledForTesting":                 true,
		"network.captive-portal-service.enabled":        false,
		"network.connectivity-service.enabled":          false,
		"browser.newtabpage.enabled":                    false,
		"layout.css.devPixelsPerPx":                     "1.0",
	})
	tb := b.firstTab(t)
	const T = 20 * time.Second
	tb.setViewport(1280, 860)
	tb.navigate("http://" + d.ControlPlane.Addr() + "/console/")
	tb.waitFor("the sign-in form", `document.getElementById("signin-form")`, T)
	shot(tb, "signin")
	tb.run(`
		document.getElementById("account").value = ` + jsString(d.Env["CF_ACCOUNT_ID"]) + `;
		document.getElementById("token").value = ` + jsString(d.Env["CF_API_TOKEN"]) + `;
		document.getElementById("signin").click();`)
	tb.waitFor("the namespace", `document.querySelector("#namespaces a[href='#/ns/my-namespace']")`, T)
	if got := tb.waitFor("the session's credentials", `sessionStorage.length > 0 && document.cookie === "" && "ok"`, T); got != "ok" {
		t.Fatalf("sessionStorage/cookie check: %q", got)
	}
	shot(tb, "namespaces")

	tb.run(`location.hash = "#/ns/my-namespace/b/example-broker"`)
	tb.waitFor("the broker's endpoints", `document.getElementById("endpoints")?.textContent.includes("mqtts://")`, T)
	shot(tb, "broker")

	tb.run(`location.hash = "#/ns/my-namespace/b/example-broker/clients"`)
	counters := tb.waitFor("the client's counters", `document.querySelector(`+jsString("#clients tr[data-client='"+id+"'] td.counters")+`)?.textContent.match(/^[1-9]\d* \/ [1-9]\d*$/)?.[0]`, T)
	t.Logf("the client's messages in / out: %s", counters)
	shot(tb, "clients")

	tb.run(`location.hash = "#/ns/my-namespace/b/example-broker/overview"`)
	tb.waitFor("the node's counters", `document.querySelectorAll("#overview-nodes tbody tr").length === 1`, T)
	tb.waitFor("the charts", `document.querySelectorAll("#charts canvas").length >= 3`, T)
	shot(tb, "overview")

	// Live topics: SSE from the broker's edge (its certificate is the
	// dev CA's, which the session accepts).
	tb.run(`location.hash = "#/ns/my-namespace/b/example-broker/live"`)
	tb.waitFor("the live view", `document.getElementById("watch")`, T)
	tb.run(`document.getElementById("filter").value = "fx/#"; document.getElementById("watch").click();`)
	tb.waitFor("watching", `document.getElementById("live-status")?.textContent.startsWith("Watching")`, T)
	text := "hello firefox at " + time.Now().Format(time.RFC3339Nano)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "fx/b", QoS: 1, Payload: []byte(text)}); err != nil {
		t.Fatal(err)
	}
	tb.waitFor("the message", `document.getElementById("messages")?.textContent.includes(`+jsString(text)+`)`, T)
	shot(tb, "live")

	if errs := b.jsErrors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors in Firefox: %s", strings.Join(errs, "; "))
	}
}

// jsString quotes s as a JavaScript string literal (JSON's strings are).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
