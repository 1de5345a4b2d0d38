package node_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/broker/onpublish"
	"github.com/openpubsub/pubsub/pkg/clients"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// hookReceiver is an on-publish hook over real TLS: it verifies each
// request with the broker's published hook key, drops the messages whose
// payload starts with "drop", upper-cases those that start with "up:",
// and answers 500 to those that start with "fail".
type hookReceiver struct {
	t    testing.TB
	srv  *httptest.Server
	keys map[string]ed25519.PublicKey
	mu   sync.Mutex
	seen map[string]int // payloads received, with their counts
	from map[string]string
}

func newHookReceiver(t testing.TB, kid string, pub ed25519.PublicKey) *hookReceiver {
	h := &hookReceiver{t: t, keys: map[string]ed25519.PublicKey{kid: pub}, seen: map[string]int{}, from: map[string]string{}}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := onpublish.Verify(r.Header, body, h.keys, time.Now(), onpublish.DefaultTolerance); err != nil {
		h.t.Errorf("hook request: %v", err)
		w.WriteHeader(401)
		return
	}
	var msgs []map[string]any
	if err := json.Unmarshal(body, &msgs); err != nil {
		h.t.Errorf("hook body %s: %v", body, err)
	}
	out := []map[string]any{}
	for _, m := range msgs {
		p, _ := m["payload"].(string)
		binary := m["payloadFormatIndicator"] != 1.0
		if binary { // MQTT clients that set no payload format send bytes
			raw, _ := base64.StdEncoding.DecodeString(p)
			p = string(raw)
		}
		h.mu.Lock()
		h.seen[p]++
		h.from[p], _ = m["clientId"].(string)
		h.mu.Unlock()
		switch {
		case strings.HasPrefix(p, "fail"):
			w.WriteHeader(500)
			return
		case strings.HasPrefix(p, "drop"):
		case strings.HasPrefix(p, "up:"):
			m["payload"] = strings.ToUpper(p)
			if binary {
				m["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.ToUpper(p)))
			}
			out = append(out, m)
		default:
			out = append(out, m)
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (h *hookReceiver) count(payload string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[payload]
}

// hookEnv is a node with broker "hooked", whose on-publish hook is a
// hookReceiver, and broker "plain", which has none.
func hookEnv(t *testing.T) (*env, *hookReceiver) {
	e := newEnv(t, node.Limits{}, "hooked", "plain")
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	kid := token.Thumbprint(pub)
	rc := newHookReceiver(t, kid, pub)
	e.useNode(e.startNodeWith(func(c *node.Config) {
		c.Hooks.RootCAs = rc.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	}))
	fb := e.brokers["hooked"].feed
	fb.OnPublishURL = rc.srv.URL + "/hook"
	fb.HookKey = &feed.HMACKey{ID: kid, Secret: priv.Seed()}
	e.brokers["hooked"].feed = fb
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
	e.node.Apply(e.state)
	return e, rc
}

// TestOnPublishHook checks that MQTT, WebSocket and SSE subscribers get
// what the hook answers, for messages published over MQTT, WebSocket and
// HTTP, each of which reaches the hook exactly once, and what each kind
// of publisher is told.
func TestOnPublishHook(t *testing.T) {
	e, rc := hookEnv(t)
	sub, _ := e.mustConnect("hooked")
	if _, err := sub.subscribe(t, "t/#", 1); err != nil {
		t.Fatal(err)
	}
	ws := e.connectWS("hooked")
	if _, err := ws.subscribe(t, "t/#", 1); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.brokers["hooked"].token(t, nil)
	sse := e.subscribeSSE("hooked", "topic=t/%23", tok, nil)
	pubc, claims := e.mustConnect("hooked")

	expectAll := func(payload string) {
		t.Helper()
		sub.expectMessage(t, "t/x", payload)
		ws.expectMessage(t, "t/x", payload)
		sse.expect(t, payload)
	}

	t.Run("MQTT/Transform", func(t *testing.T) {
		r, err := pubc.publish(t, "t/x", 1, "up:mqtt")
		if err != nil || r.ReasonCode != 0 {
			t.Fatalf("PUBACK %+v, %v", r, err)
		}
		expectAll("UP:MQTT")
	})
	t.Run("MQTT/Drop", func(t *testing.T) {
		r, err := pubc.publish(t, "t/x", 1, "drop-mqtt")
		if err != nil || r.ReasonCode != 0x10 {
			t.Fatalf("PUBACK %+v, %v; want 0x10", r, err)
		}
		if _, err := pubc.publish(t, "t/x", 0, "drop-qos0"); err != nil {
			t.Fatal(err)
		}
		if _, err := pubc.publish(t, "t/x", 2, "drop-qos2"); err != nil {
			t.Fatalf("QoS 2 dropped by the hook: %v, want a normal flow", err)
		}
		_, _ = pubc.publish(t, "t/x", 1, "marker-1")
		sub.expectNoMessageBefore(t, "marker-1")
		ws.expectNoMessageBefore(t, "marker-1")
		sse.expect(t, "marker-1")
	})
	t.Run("MQTT/Failure", func(t *testing.T) {
		r, err := pubc.publish(t, "t/x", 1, "fail-mqtt")
		if r == nil || r.ReasonCode != 0x80 {
			t.Fatalf("PUBACK %+v, %v; want 0x80", r, err)
		}
		_, _ = pubc.publish(t, "t/x", 1, "marker-2")
		sub.expectNoMessageBefore(t, "marker-2")
		ws.expectNoMessageBefore(t, "marker-2")
		sse.expect(t, "marker-2")
	})
	t.Run("WebSocket/Transform", func(t *testing.T) {
		wsp := e.connectWS("hooked")
		if _, err := wsp.publish(t, "t/x", 1, "up:ws"); err != nil {
			t.Fatal(err)
		}
		expectAll("UP:WS")
	})
	t.Run("HTTP/Transform", func(t *testing.T) {
		e.publishHTTP("hooked", tok, "topic=t/x", "up:http")
		expectAll("UP:HTTP")
	})
	t.Run("HTTP/Drop", func(t *testing.T) {
		status, _, body := e.request("POST", "hooked", "/events?topic=t/x", tok, "drop-http", nil)
		if status != 200 || !strings.Contains(body, `"dropped":true`) {
			t.Fatalf("%d %s, want 200 dropped", status, body)
		}
		status, _, body = e.request("POST", "hooked", "/events?topic=t/x", tok, "fail-http", nil)
		if status != 502 || errorCode(t, body) != 20070 {
			t.Fatalf("%d %s, want 502 hook_failed", status, body)
		}
		e.publishHTTP("hooked", tok, "topic=t/x", "marker-3")
		sub.expectNoMessageBefore(t, "marker-3")
		ws.expectNoMessageBefore(t, "marker-3")
		sse.expect(t, "marker-3")
	})
	t.Run("ExactlyOnce", func(t *testing.T) {
		for _, p := range []string{"up:mqtt", "drop-mqtt", "fail-mqtt", "up:ws", "up:http", "drop-http", "fail-http", "marker-3"} {
			if n := rc.count(p); n != 1 {
				t.Errorf("%q reached the hook %d times, want once", p, n)
			}
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.from["up:mqtt"] != claims.Subject {
			t.Errorf("clientId %q, want %q", rc.from["up:mqtt"], claims.Subject)
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		b := `broker="hooked.ns.pubsub.test"`
		for _, c := range []struct {
			sample string
			min    int64
		}{
			{`pubsub_hook_requests_total{` + b + `,outcome="ok"}`, 6},
			{`pubsub_hook_requests_total{` + b + `,outcome="status_5xx"}`, 2},
			{`pubsub_hook_messages_total{` + b + `,result="changed"}`, 3},
			{`pubsub_hook_messages_total{` + b + `,result="dropped_by_hook"}`, 4},
			{`pubsub_hook_messages_total{` + b + `,result="dropped_on_failure"}`, 2},
			{`pubsub_hook_request_duration_seconds_count{` + b + `}`, 8},
			{`pubsub_hook_requests_in_flight{` + b + `}`, 0},
		} {
			if got := e.metric(c.sample); got < c.min || (c.min == 0 && got != 0) {
				t.Errorf("%s = %d, want at least %d", c.sample, got, c.min)
			}
		}
		// Every outcome and result has its series, at 0 until it happens.
		for _, o := range onpublish.Outcomes() {
			if got := e.metric(`pubsub_hook_requests_total{` + b + `,outcome="` + o.String() + `"}`); got < 0 {
				t.Errorf("no hook requests series for outcome %s", o)
			}
		}
		for _, r := range []string{"passed", "changed", "dropped_by_hook", "dropped_on_failure", "passed_on_failure", "closed"} {
			if got := e.metric(`pubsub_hook_messages_total{` + b + `,result="` + r + `"}`); got < 0 {
				t.Errorf("no hook messages series for result %s", r)
			}
		}
		if got := e.metric(`pubsub_hook_requests_total{broker="plain.ns.pubsub.test",outcome="ok"}`); got != -1 {
			t.Errorf("a broker without a hook has hook metrics: %d", got)
		}
	})
	t.Run("Report", func(t *testing.T) {
		// The clients report carries the figures /metrics has.
		b := `broker="hooked.ns.pubsub.test"`
		by := map[string]*clients.HookStats{}
		for _, st := range e.node.BrokerStats() {
			by[st.BrokerID] = st.Hook
		}
		h := by["hooked"]
		if h == nil {
			t.Fatal("no hook counters for the hooked broker")
		}
		for _, c := range []struct {
			name      string
			got, want int64
		}{
			{"requests ok", h.Requests["ok"], e.metric(`pubsub_hook_requests_total{` + b + `,outcome="ok"}`)},
			{"requests status_5xx", h.Requests["status_5xx"], e.metric(`pubsub_hook_requests_total{` + b + `,outcome="status_5xx"}`)},
			{"changed", h.Changed, e.metric(`pubsub_hook_messages_total{` + b + `,result="changed"}`)},
			{"passed", h.Passed, e.metric(`pubsub_hook_messages_total{` + b + `,result="passed"}`)},
			{"dropped by hook", h.DroppedByHook, e.metric(`pubsub_hook_messages_total{` + b + `,result="dropped_by_hook"}`)},
			{"dropped on failure", h.DroppedOnFailure, e.metric(`pubsub_hook_messages_total{` + b + `,result="dropped_on_failure"}`)},
		} {
			if c.got != c.want || c.want < 0 {
				t.Errorf("%s: report %d, /metrics %d", c.name, c.got, c.want)
			}
		}
		if h.Requests["ok"] < 6 || h.DroppedByHook < 4 {
			t.Errorf("hook counters too low: %+v", h)
		}
		if _, ok := h.Requests["timeout"]; ok {
			t.Errorf("an outcome never seen is reported: %v", h.Requests)
		}
		if h, ok := by["plain"]; ok && h != nil {
			t.Errorf("a broker without a hook reports hook counters: %+v", h)
		}
	})
	t.Run("OtherBrokerUntouched", func(t *testing.T) {
		other, _ := e.mustConnect("plain")
		if _, err := other.subscribe(t, "t/#", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := other.publish(t, "t/x", 1, "drop-plain"); err != nil {
			t.Fatal(err)
		}
		other.expectMessage(t, "t/x", "drop-plain")
		if rc.count("drop-plain") != 0 {
			t.Fatal("another broker's message reached the hook")
		}
	})
	t.Run("SysTopicsBypass", func(t *testing.T) {
		// $ topics are refused by the ACL before the hook sees them.
		_, _ = pubc.Publish(t.Context(), &paho.Publish{Topic: "$x", QoS: 1, Payload: []byte("dollar")})
		if rc.count("dollar") != 0 {
			t.Fatal("a $ topic reached the hook")
		}
	})
}

// TestOnPublishHookSettings checks the optional settings on a node:
// messages outside the filters bypass the hook, and on_failure pass
// delivers a failed request's messages unchanged.
func TestOnPublishHookSettings(t *testing.T) {
	e, rc := hookEnv(t)
	fb := e.brokers["hooked"].feed
	fb.OnPublish = &feed.OnPublish{Filters: []string{"t/#"}, OnFailure: "pass"}
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
	sub, _ := e.mustConnect("hooked")
	if _, err := sub.subscribe(t, "#", 1); err != nil {
		t.Fatal(err)
	}
	pubc, _ := e.mustConnect("hooked")
	if r, err := pubc.publish(t, "other/x", 1, "drop-bypass"); err != nil || r.ReasonCode != 0 {
		t.Fatalf("PUBACK %+v, %v", r, err)
	}
	sub.expectMessage(t, "other/x", "drop-bypass")
	if rc.count("drop-bypass") != 0 {
		t.Fatal("a message outside the filters reached the hook")
	}
	if r, err := pubc.publish(t, "t/x", 1, "fail-pass"); err != nil || r.ReasonCode != 0 {
		t.Fatalf("PUBACK %+v, %v", r, err)
	}
	sub.expectMessage(t, "t/x", "fail-pass")
	if rc.count("fail-pass") != 1 {
		t.Fatal("the failed message did not reach the hook once")
	}

	// Notify: delivered as published, at once; the hook gets a copy.
	fb.OnPublish = &feed.OnPublish{Mode: "notify"}
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
	if r, err := pubc.publish(t, "t/x", 1, "up:notify"); err != nil || r.ReasonCode != 0 {
		t.Fatalf("PUBACK %+v, %v", r, err)
	}
	sub.expectMessage(t, "t/x", "up:notify")
	eventually(t, "the hook's copy", func() bool { return rc.count("up:notify") == 1 })
}
