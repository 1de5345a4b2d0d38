package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	brokernode "github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/broker/onpublish"
	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/pkg/token"
)

// startHookReceiver runs e2e/hook/serve.mjs with the Worker of the README
// (e2e/hook/worker.mjs) and the broker's JWKS, in another process, and
// returns its URL.
func startHookReceiver(t *testing.T, jwks, failMode string) string {
	t.Helper()
	cmd := exec.Command("node", "hook/serve.mjs")
	cmd.Env = append(os.Environ(), "PUBSUB_JWKS="+jwks, "FAIL_MODE="+failMode)
	line := waitLine(t, startProcess(t, cmd), "listening on ", 20*time.Second)
	return strings.TrimSpace(line[strings.Index(line, "http://"):])
}

// patchHook sets the broker's on_publish with curl, as a user would.
func patchHook(t *testing.T, d *app.Dev, onPublish string) {
	t.Helper()
	var b map[string]any
	decode(t, shell(t, d, `curl -s -X PATCH -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker" --data '{"on_publish": `+onPublish+`}'`), &b)
}

// edgeClient is an HTTPS client of the dev node's edge.
func edgeClient(t *testing.T, d *app.Dev) *http.Client {
	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	addr := d.Node.HTTPSAddrs()[0].String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: pool},
	}}
}

// httpPublish publishes over the edge and returns the status and body.
func httpPublish(t *testing.T, c *http.Client, tok, topic, payload string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://"+brokerHost+"/events?topic="+topic, strings.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// sseData opens an SSE stream on topic and returns its data lines.
func sseData(t *testing.T, c *http.Client, tok, topic string) <-chan string {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+brokerHost+"/events?topic="+topic, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res, err := c.Do(req.WithContext(ctx))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("SSE: %v %v", res, err)
	}
	out := make(chan string, 100)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				out <- d
			}
		}
	}()
	return out
}

// expectData waits for data lines until one equals want; an unexpected
// one (a message the hook should have dropped) fails.
func expectData(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	for {
		select {
		case d := <-ch:
			if d == want {
				return
			}
			if !strings.HasPrefix(d, "{") && !staleProbe(d, want) { // the stream-open event's data
				t.Fatalf("SSE got %q, want %q", d, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("SSE: no %q", want)
		}
	}
}

func expectMQTT(t *testing.T, c *mqttClient, want string) {
	t.Helper()
	for {
		select {
		case m := <-c.msgs:
			if string(m.Payload) == want {
				return
			}
			if !staleProbe(string(m.Payload), want) {
				t.Fatalf("MQTT got %q, want %q", m.Payload, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("MQTT: no %q", want)
		}
	}
}

// staleProbe reports whether got is a probe of an earlier failure step
// ("fail <receiver> <on_failure> probe"), published before the node took
// the next step's hook and so passed under the earlier hook's
// on_failure=pass: it may arrive before the message a later step wants.
// A probe only ever precedes the messages of later steps.
func staleProbe(got, want string) bool {
	return strings.HasPrefix(got, "fail ") && strings.HasSuffix(got, " probe") && got != want
}

// TestOnPublishHookWorker runs the README's Worker in Node, verifying
// each request with WebCrypto's Ed25519 against the broker's published
// JWKS, as the on-publish hook of `pubsub dev`: MQTT, MQTT over WebSocket
// and SSE subscribers
// get exactly what it returns, for messages published over MQTT and over
// HTTP; then the hook fails (500, garbage, no answer, unreachable) under
// each on_failure.
func TestOnPublishHookWorker(t *testing.T) {
	requireTool(t, "node")
	dir := t.TempDir()
	d, err := app.StartDev(context.Background(), app.DevConfig{DataDir: dir, Addr: "127.0.0.1:0", Domain: "pubsub.localhost",
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
		Hooks: brokernode.HookConfig{AllowHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var toks []string
	for _, tok := range setupBroker(t, d, 4) {
		toks = append(toks, tok)
	}
	var jwks json.RawMessage
	apiGet(t, d, "/namespaces/my-namespace/brokers/example-broker/publickeys", &jwks)
	url := startHookReceiver(t, string(jwks), "")
	patchHook(t, d, `{"url": "`+url+`"}`)

	edge := edgeClient(t, d)
	// The node has the hook once a message with "drop" is dropped.
	poll(t, "the node to call the hook", func() bool {
		_, body := httpPublish(t, edge, toks[0], "probe", "drop-probe")
		return strings.Contains(body, `"dropped":true`)
	})

	sub, _, err := dialBroker(t, d, brokerHost, toks[1])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	ws, _, err := dialBrokerWS(t, d, brokerHost, toks[3])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	sse := sseData(t, edge, toks[2], "t")
	// expect waits for want at every subscriber: MQTT, MQTT over
	// WebSocket, SSE.
	expect := func(t *testing.T, want string) {
		t.Helper()
		expectMQTT(t, sub, want)
		expectMQTT(t, ws, want)
		expectData(t, sse, want)
	}
	pub, _, err := dialBroker(t, d, brokerHost, toks[0])
	if err != nil {
		t.Fatal(err)
	}
	publish := func(payload string) *paho.PublishResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := pub.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte(payload)})
		if r == nil {
			t.Fatalf("publish %q: %v", payload, err)
		}
		return r
	}

	t.Run("Transform", func(t *testing.T) {
		if r := publish("up:over mqtt"); r.ReasonCode != 0 {
			t.Fatalf("PUBACK %#x", r.ReasonCode)
		}
		expect(t, "UP:OVER MQTT")
		if status, body := httpPublish(t, edge, toks[0], "t", "up:over http"); status != 200 {
			t.Fatalf("HTTP publish: %d %s", status, body)
		}
		expect(t, "UP:OVER HTTP")
	})
	t.Run("Drop", func(t *testing.T) {
		if r := publish("please drop me"); r.ReasonCode != 0x10 {
			t.Fatalf("PUBACK %#x, want 0x10", r.ReasonCode)
		}
		if _, body := httpPublish(t, edge, toks[0], "t", "drop over http"); !strings.Contains(body, `"dropped":true`) {
			t.Fatalf("HTTP publish: %s", body)
		}
		publish("marker")
		expect(t, "marker")
	})

	failing := map[string]string{
		"500":         startHookReceiver(t, string(jwks), "500"),
		"garbage":     startHookReceiver(t, string(jwks), "garbage"),
		"hang":        startHookReceiver(t, string(jwks), "hang"),
		"unreachable": "http://127.0.0.1:9/", // the discard port: nothing listens
	}
	for _, name := range []string{"500", "garbage", "hang", "unreachable"} {
		for _, onFailure := range []string{"drop", "pass", "retry"} {
			t.Run("Failure/"+name+"/"+onFailure, func(t *testing.T) {
				patchHook(t, d, `{"url": "`+failing[name]+`", "on_failure": "`+onFailure+`", "timeout": 1}`)
				want := "fail " + name + " " + onFailure
				poll(t, "the node to take the new hook", func() bool {
					r := publish(want + " probe")
					if onFailure == "pass" {
						return r.ReasonCode == 0
					}
					return r.ReasonCode == 0x80
				})
				// The probes that passed reached the subscribers.
				if onFailure == "pass" {
					expect(t, want+" probe")
				}
				status, _ := httpPublish(t, edge, toks[0], "t", want+" http")
				switch onFailure {
				case "pass":
					if status != 200 {
						t.Fatalf("HTTP publish: %d, want 200", status)
					}
					expect(t, want+" http")
				default:
					if status != 502 {
						t.Fatalf("HTTP publish: %d, want 502", status)
					}
				}
			})
		}
	}
	patchHook(t, d, `{"url": "`+url+`"}`)
	poll(t, "the working hook again", func() bool { return publish("marker 2").ReasonCode == 0 })
	expect(t, "marker 2")
}

// TestOnPublishHookGoReceiver runs the README's Go receiver
// (e2e/hook/receiver) as the hook of `pubsub dev`.
func TestOnPublishHookGoReceiver(t *testing.T) {
	dir := t.TempDir()
	bin := dir + "/receiver"
	if out, err := exec.Command("go", "build", "-o", bin, "./hook/receiver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	d, err := app.StartDev(context.Background(), app.DevConfig{DataDir: dir, Addr: "127.0.0.1:0", Domain: "pubsub.localhost",
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
		Hooks: brokernode.HookConfig{AllowHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var toks []string
	for _, tok := range setupBroker(t, d, 2) {
		toks = append(toks, tok)
	}
	var jwks json.RawMessage
	apiGet(t, d, "/namespaces/my-namespace/brokers/example-broker/publickeys", &jwks)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PUBSUB_JWKS="+string(jwks))
	line := waitLine(t, startProcess(t, cmd), "listening on ", 20*time.Second)
	patchHook(t, d, `{"url": "`+strings.TrimSpace(line[strings.Index(line, "http://"):])+`"}`)
	edge := edgeClient(t, d)
	poll(t, "the node to call the hook", func() bool {
		_, body := httpPublish(t, edge, toks[0], "probe", "drop-probe")
		return strings.Contains(body, `"dropped":true`)
	})
	sse := sseData(t, edge, toks[1], "t")
	httpPublish(t, edge, toks[0], "t", "please drop")
	httpPublish(t, edge, toks[0], "t", "up:go receiver")
	expectData(t, sse, "UP:GO RECEIVER")
}

// TestOnPublishHookKeyRotation checks that rotating a broker's keys keeps
// its hook requests verifiable, with the JWKS a receiver copied before
// the rotations as with the one published after: the control plane
// rotates twice and deletes the retired key that signed the first
// tokens, the node follows (a token of the deleted key is refused), and
// the node still signs with the hook key, which stays last in the JWKS.
func TestOnPublishHookKeyRotation(t *testing.T) {
	dir := t.TempDir()
	d, err := app.StartDev(context.Background(), app.DevConfig{DataDir: dir, Addr: "127.0.0.1:0", Domain: "pubsub.localhost",
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
		Hooks: brokernode.HookConfig{AllowHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	var first string
	for _, tok := range setupBroker(t, d, 1) {
		first = tok
	}
	const bp = "/namespaces/my-namespace/brokers/example-broker"
	publicKeys := func() token.JWKSet {
		t.Helper()
		var set token.JWKSet
		apiGet(t, d, bp+"/publickeys", &set)
		return set
	}
	before := publicKeys()
	if len(before.Keys) != 3 {
		t.Fatalf("JWKS %+v, want current, next and the hook key", before.Keys)
	}
	hookKID := before.Keys[2].Kid

	type request struct {
		header http.Header
		body   []byte
	}
	requests := make(chan request, 100)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests <- request{r.Header.Clone(), body}
		_, _ = w.Write(body) // deliver everything unchanged
	}))
	t.Cleanup(rc.Close)
	patchHook(t, d, `{"url": "`+rc.URL+`"}`)

	edge := edgeClient(t, d)
	// verified publishes payload over HTTP with tok and checks the hook
	// request that carries it against each JWKS.
	verified := func(t *testing.T, tok, payload string, sets ...token.JWKSet) {
		t.Helper()
		if status, body := httpPublish(t, edge, tok, "t", payload); status != 200 {
			t.Fatalf("HTTP publish: %d %s", status, body)
		}
		for {
			select {
			case r := <-requests:
				if !carries(t, r.body, payload) {
					continue // an earlier probe's request
				}
				if got := r.header.Get(onpublish.HeaderKeyID); got != hookKID {
					t.Fatalf("request signed by %q, want the hook key %q", got, hookKID)
				}
				for i, set := range sets {
					keys, err := set.ParseKeys()
					if err != nil {
						t.Fatal(err)
					}
					if err := onpublish.Verify(r.header, r.body, keys, time.Now(), onpublish.DefaultTolerance); err != nil {
						t.Fatalf("JWKS %d does not verify the request: %v", i, err)
					}
				}
				return
			case <-time.After(10 * time.Second):
				t.Fatalf("no hook request with %q", payload)
			}
		}
	}
	poll(t, "the node to call the hook", func() bool {
		_, body := httpPublish(t, edge, first, "probe", "probe")
		return len(requests) > 0 && !strings.Contains(body, `"dropped":true`)
	})
	verified(t, first, "before the rotations", before)

	rotate := func() {
		t.Helper()
		var out map[string]any
		decode(t, shell(t, d, `curl -s -X POST -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub`+bp+`/publickeys/rotate"`), &out)
	}
	rotate()
	rotate()
	firstKID := before.Keys[0].Kid // current at creation, now retired
	var deleted map[string]any
	decode(t, shell(t, d, `curl -s -X DELETE -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub`+bp+`/publickeys/`+firstKID+`"`), &deleted)
	poll(t, "the node to apply the rotations (a token of the deleted key refused)", func() bool {
		_, _, err := dialBroker(t, d, brokerHost, first)
		return err != nil
	})
	after := publicKeys()
	if n := len(after.Keys); n != 4 || after.Keys[n-1].Kid != hookKID {
		t.Fatalf("JWKS after the rotations %+v, want current, next, one retired key and the hook key last", after.Keys)
	}
	if _, ok := after.Key(firstKID); ok {
		t.Fatal("the deleted key is still published")
	}
	var fresh string
	for _, tok := range mintTokens(t, d, 1) {
		fresh = tok
	}
	verified(t, fresh, "after the rotations", before, after)
}

// carries reports whether a hook request's body has a message with
// payload.
func carries(t *testing.T, body []byte, payload string) bool {
	t.Helper()
	var msgs []struct {
		Payload string `json:"payload"`
		PFI     int    `json:"payloadFormatIndicator"`
	}
	if err := json.Unmarshal(body, &msgs); err != nil {
		t.Fatalf("hook request %s: %v", body, err)
	}
	for _, m := range msgs {
		p := m.Payload
		if m.PFI != 1 {
			b, _ := base64.StdEncoding.DecodeString(p)
			p = string(b)
		}
		if p == payload {
			return true
		}
	}
	return false
}
