package http_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/onpublish"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestHookKey checks the key that signs on-publish hook requests: in the
// broker's JWKS from its creation, unchanged by rotations, not deletable,
// and sent to a node only sealed, only when the broker has a hook, where
// it opens into the private half of the published key.
func TestHookKey(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) { testHookKey(t, st) })
}

func testHookKey(t *testing.T, st controlplane.Store) {
	a := newAPI(t, st)
	a.do("POST", "/namespaces", `{"name":"ns"}`).ok(t, nil)
	a.do("POST", "/namespaces/ns/brokers", `{"name":"plain"}`).ok(t, nil)
	a.do("POST", "/namespaces/ns/brokers", `{"name":"hooked","on_publish":{"url":"https://hook.example/p"}}`).ok(t, nil)
	bp := "/namespaces/ns/brokers/hooked"
	keys, set := a.keySet(t, bp)
	if len(set.Keys) != 3 {
		t.Fatalf("JWKS has %d keys, want current, next and the hook key", len(set.Keys))
	}
	hookKID := set.Keys[2].Kid
	if _, other := a.keySet(t, "/namespaces/ns/brokers/plain"); other.Keys[2].Kid == hookKID {
		t.Fatal("two brokers share a hook key")
	}

	t.Run("StaysAcrossRotations", func(t *testing.T) {
		var rot struct {
			Hook string `json:"hook"`
		}
		a.do("POST", bp+"/publickeys/rotate", "").ok(t, &rot)
		a.do("POST", bp+"/publickeys/rotate", "").ok(t, nil)
		_, after := a.keySet(t, bp)
		if rot.Hook != hookKID || after.Keys[len(after.Keys)-1].Kid != hookKID {
			t.Fatalf("after rotations the hook key is %q / %+v, want %q", rot.Hook, after.Keys, hookKID)
		}
	})
	t.Run("ErrKeyInUse", func(t *testing.T) {
		a.do("DELETE", bp+"/publickeys/"+hookKID, "").fails(t, 400, 10044, "on-publish hook")
	})
	t.Run("FeedSealsIt", func(t *testing.T) {
		tok, err := a.svc.CreateNodeToken(context.Background(), "node-1")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", a.srv.URL+feed.Path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		line, err := bufio.NewReader(res.Body).ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var ev feed.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatal(err)
		}
		for _, fb := range ev.Brokers {
			if fb.Name == "plain" && fb.HookKey != nil {
				t.Fatal("a broker without a hook got a hook key")
			}
			if fb.Name == "hooked" && (fb.HookKey == nil || fb.HookKey.Secret != nil || fb.HookKey.Sealed == "") {
				t.Fatalf("hook key on the wire = %+v, want it sealed", fb.HookKey)
			}
		}
		if err := feed.NewSecretBoxForToken("psn_other").OpenSecrets(&ev); err == nil {
			t.Fatal("another node token opened the hook key")
		}
		if err := feed.NewSecretBoxForToken(tok).OpenSecrets(&ev); err != nil {
			t.Fatal(err)
		}
		s, err := broker.NewState(ev)
		if err != nil {
			t.Fatal(err)
		}
		var b *broker.Broker
		for x := range s.Brokers() {
			if x.Name == "hooked" {
				b = x
			}
		}
		if b == nil || b.HookKID != hookKID {
			t.Fatalf("node broker = %+v, want hook kid %s", b, hookKID)
		}
		if _, ok := b.Keys[hookKID]; ok {
			t.Fatal("the hook key verifies tokens on the node")
		}
		msg := []byte("1700000000[]")
		if !ed25519.Verify(keys[hookKID], msg, ed25519.Sign(b.HookKey, msg)) {
			t.Fatal("the node's hook key does not match the published one")
		}
		// The node's disk cache keeps it sealed and reopens it.
		snap := s.Snapshot(0)
		raw, _ := json.Marshal(snap)
		var back feed.Event
		_ = json.Unmarshal(raw, &back)
		if err := feed.NewSecretBoxForToken(tok).OpenSecrets(&back); err != nil {
			t.Fatal(err)
		}
		s2, err := broker.NewState(back)
		if err != nil || s2.Broker(b.ID).HookKID != hookKID {
			t.Fatalf("reloaded cache: %v", err)
		}
	})
}

// TestOnPublishSettings checks the optional on_publish fields: stored,
// returned, sent to nodes, and each bad value refused with 400 naming it.
func TestOnPublishSettings(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) { testOnPublishSettings(t, st) })
}

func testOnPublishSettings(t *testing.T, st controlplane.Store) {
	a := newAPI(t, st)
	a.do("POST", "/namespaces", `{"name":"ns"}`).ok(t, nil)
	type onPublish struct {
		URL       string   `json:"url"`
		Filters   []string `json:"filters"`
		Timeout   int      `json:"timeout"`
		OnFailure string   `json:"on_failure"`
		Mode      string   `json:"mode"`
	}
	var b struct {
		OnPublish *onPublish `json:"on_publish"`
	}
	a.do("POST", "/namespaces/ns/brokers", `{"name":"b","on_publish":{"url":"https://h.example/x","filters":["a/#","b/+"],"timeout":3,"on_failure":"retry","mode":"notify"}}`).ok(t, &b)
	want := onPublish{URL: "https://h.example/x", Filters: []string{"a/#", "b/+"}, Timeout: 3, OnFailure: "retry", Mode: "notify"}
	if b.OnPublish == nil || fmt.Sprint(*b.OnPublish) != fmt.Sprint(want) {
		t.Fatalf("on_publish = %+v, want %+v", b.OnPublish, want)
	}
	b.OnPublish = nil
	a.do("GET", "/namespaces/ns/brokers/b", "").ok(t, &b)
	if fmt.Sprint(*b.OnPublish) != fmt.Sprint(want) {
		t.Fatalf("stored on_publish = %+v", b.OnPublish)
	}
	var ev *feed.Event
	ctx, cancel := context.WithCancel(context.Background())
	_ = a.svc.StreamFeed(ctx, 0, func(e *feed.Event) error { ev = e; cancel(); return nil })
	if o := ev.Brokers[0].OnPublish; o == nil || o.Timeout != 3 || o.OnFailure != "retry" || o.Mode != "notify" || len(o.Filters) != 2 {
		t.Fatalf("feed on_publish = %+v", o)
	}
	b.OnPublish = nil
	a.do("PATCH", "/namespaces/ns/brokers/b", `{"on_publish":{"url":"https://h.example/y"}}`).ok(t, &b)
	if fmt.Sprint(*b.OnPublish) != fmt.Sprint(onPublish{URL: "https://h.example/y"}) {
		t.Fatalf("a PATCH with the url only resets the settings: %+v", b.OnPublish)
	}
	for _, c := range []struct{ name, body, msg string }{
		{"NotAURL", `{"url":"not a url"}`, "on_publish.url"},
		{"FileScheme", `{"url":"file:///etc/passwd"}`, "on_publish.url"},
		{"FTPScheme", `{"url":"ftp://h.example/"}`, "on_publish.url"},
		{"UnknownField", `{"url":"https://h.example/","retries":3}`, "retries"},
		{"TimeoutZero", `{"url":"https://h.example/","timeout":-1}`, "on_publish.timeout"},
		{"TimeoutTooLong", `{"url":"https://h.example/","timeout":61}`, "on_publish.timeout"},
		{"TimeoutNotANumber", `{"url":"https://h.example/","timeout":"10s"}`, "on_publish"},
		{"BadFilter", `{"url":"https://h.example/","filters":["a/#/b"]}`, "on_publish.filters[0]"},
		{"BadOnFailure", `{"url":"https://h.example/","on_failure":"ignore"}`, "on_publish.on_failure"},
		{"BadMode", `{"url":"https://h.example/","mode":"filter"}`, "on_publish.mode"},
		{"SettingsWithoutURL", `{"url":null,"mode":"notify"}`, "on_publish.url"},
	} {
		t.Run("ErrInvalid/"+c.name, func(t *testing.T) {
			for _, r := range []response{
				a.do("PATCH", "/namespaces/ns/brokers/b", `{"on_publish":`+c.body+`}`),
				a.do("POST", "/namespaces/ns/brokers", `{"name":"c","on_publish":`+c.body+`}`),
			} {
				if r.Status != 400 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, c.msg) {
					t.Fatalf("%d %+v, want 400 naming %s", r.Status, r.Errors, c.msg)
				}
			}
		})
	}
}

// TestHookTest checks the hook test route against a receiver that
// verifies the signature with the broker's published JWKS.
func TestHookTest(t *testing.T) {
	testenv.EachStore(t, func(t *testing.T, st controlplane.Store) { testHookTest(t, st) })
}

func testHookTest(t *testing.T, st controlplane.Store) {
	a := newAPI(t, st)
	a.do("POST", "/namespaces", `{"name":"ns"}`).ok(t, nil)
	var keys map[string]ed25519.PublicKey
	var verified atomic.Bool
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified.Store(onpublish.Verify(r.Header, body, keys, time.Now(), onpublish.DefaultTolerance) == nil)
		var msgs []map[string]any
		_ = json.Unmarshal(body, &msgs)
		msgs[0]["payload"] = "changed"
		_ = json.NewEncoder(w).Encode(msgs[:2])
	}))
	defer rc.Close()
	a.do("POST", "/namespaces/ns/brokers", `{"name":"b"}`).ok(t, nil)
	a.do("POST", "/namespaces/ns/brokers/b/on_publish/test", "").fails(t, 400, 10012, "no on_publish.url")
	a.do("PATCH", "/namespaces/ns/brokers/b", `{"on_publish":{"url":"`+rc.URL+`"}}`).ok(t, nil)
	a.do("POST", "/namespaces/ns/brokers/b/on_publish/test", "").fails(t, 400, 10012, "http://")
	a.srvAPI.AllowHTTPHooks(true)
	keys, _ = a.keySet(t, "/namespaces/ns/brokers/b")
	var res struct {
		Status   int    `json:"status"`
		Outcome  string `json:"outcome"`
		Messages []struct {
			Result, Payload string
		} `json:"messages"`
	}
	a.do("POST", "/namespaces/ns/brokers/b/on_publish/test", "").ok(t, &res)
	if !verified.Load() || res.Status != 200 || res.Outcome != "ok" || len(res.Messages) != 3 ||
		res.Messages[0].Result != "changed" || res.Messages[0].Payload != "changed" || res.Messages[1].Result != "delivered" || res.Messages[2].Result != "dropped" {
		t.Fatalf("hook test = %+v (verified %v)", res, verified.Load())
	}
}
