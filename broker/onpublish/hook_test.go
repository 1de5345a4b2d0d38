package onpublish

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wireMsg is a message as a receiver decodes it.
type wireMsg struct {
	Mid                    int     `json:"mid"`
	Broker                 string  `json:"broker"`
	Topic                  string  `json:"topic"`
	ClientID               string  `json:"clientId"`
	JTI                    string  `json:"jti,omitempty"`
	ReceivedAt             int64   `json:"receivedAt"`
	ContentType            *string `json:"contentType"`
	PayloadFormatIndicator int     `json:"payloadFormatIndicator"`
	Payload                string  `json:"payload"`
}

// receiver is a hook receiver that verifies every request with the
// broker's published key and answers with fn's result.
type receiver struct {
	t        *testing.T
	keys     map[string]ed25519.PublicKey
	fn       func(w http.ResponseWriter, msgs []wireMsg)
	requests atomic.Int64
	mu       sync.Mutex
	batches  [][]wireMsg
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	if rc.fn == nil { // a hook that never answers
		<-r.Context().Done()
		panic(http.ErrAbortHandler) // no answer at all
	}
	if err := Verify(r.Header, body, rc.keys, time.Now(), DefaultTolerance); err != nil {
		rc.t.Errorf("the receiver cannot verify a request: %v", err)
		w.WriteHeader(401)
		return
	}
	var msgs []wireMsg
	if err := json.Unmarshal(body, &msgs); err != nil {
		rc.t.Errorf("body %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.batches = append(rc.batches, msgs)
	rc.mu.Unlock()
	rc.fn(w, msgs)
}

func echo(w http.ResponseWriter, msgs []wireMsg) { _ = json.NewEncoder(w).Encode(msgs) }

type fixture struct {
	rc   *receiver
	srv  *httptest.Server
	cfg  Config
	hook *Hook
}

func newFixture(t *testing.T, fn func(http.ResponseWriter, []wireMsg), tweak func(*Config)) *fixture {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	rc := &receiver{t: t, keys: map[string]ed25519.PublicKey{"kid-1": pub}, fn: fn}
	srv := httptest.NewTLSServer(rc)
	t.Cleanup(srv.Close)
	cfg := Config{URL: srv.URL + "/hook", Broker: "b.ns.pubsub.test", KeyID: "kid-1", Key: priv, RootCAs: certPool(srv)}
	if tweak != nil {
		tweak(&cfg)
	}
	h, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &fixture{rc: rc, srv: srv, cfg: cfg, hook: h}
}

func certPool(srv *httptest.Server) *x509CertPool {
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func text(topic, payload string) *Message {
	return &Message{Topic: topic, ClientID: "c1", JTI: "j1", ReceivedAt: time.Now().Unix(), PayloadFormat: 1, Payload: []byte(payload)}
}

// TestRequestFormat checks the body and headers a receiver gets.
func TestRequestFormat(t *testing.T) {
	f := newFixture(t, echo, nil)
	ct := "text/plain"
	m := text("a/b", "héllo \"x\"\n")
	m.ContentType = ct
	if r := f.hook.Publish(m); r.Verdict != Deliver || r.Changed || string(r.Payload) != "héllo \"x\"\n" {
		t.Fatalf("result = %+v", r)
	}
	bin := &Message{Topic: "a/c", ClientID: "c2", Payload: []byte{0, 1, 0xff}}
	if r := f.hook.Publish(bin); r.Verdict != Deliver || string(r.Payload) != string(bin.Payload) {
		t.Fatalf("binary result = %+v", r)
	}
	got := f.rc.batches
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	w := got[0][0]
	if w.Broker != "b.ns.pubsub.test" || w.Topic != "a/b" || w.ClientID != "c1" || w.JTI != "j1" || w.ContentType == nil || *w.ContentType != ct ||
		w.PayloadFormatIndicator != 1 || w.Payload != "héllo \"x\"\n" || w.ReceivedAt == 0 {
		t.Fatalf("message = %+v", w)
	}
	b := got[1][0]
	if b.ContentType != nil || b.PayloadFormatIndicator != 0 || b.Payload != base64.StdEncoding.EncodeToString([]byte{0, 1, 0xff}) {
		t.Fatalf("binary message = %+v, want base64 and a null content type", b)
	}
}

// TestVerify checks that a tampered body, an old timestamp and another
// broker's key fail verification.
func TestVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	body := []byte(`[{"mid":0}]`)
	hdr := func(ts int64, b []byte, kid string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, itoa(ts))
		h.Set(HeaderSignature, Sign(priv, ts, b))
		h.Set(HeaderKeyID, kid)
		return h
	}
	keys := map[string]ed25519.PublicKey{"k": pub}
	cases := []struct {
		name string
		h    http.Header
		body []byte
		keys map[string]ed25519.PublicKey
		want error
	}{
		{"OK", hdr(now.Unix(), body, "k"), body, keys, nil},
		{"ErrSignature/TamperedBody", hdr(now.Unix(), body, "k"), []byte(`[{"mid":1}]`), keys, ErrSignature},
		{"ErrStale/OldTimestamp", hdr(now.Add(-time.Hour).Unix(), body, "k"), body, keys, ErrStale},
		{"ErrSignature/AnotherBrokersKey", hdr(now.Unix(), body, "k"), body, map[string]ed25519.PublicKey{"k": other}, ErrSignature},
		{"ErrUnknownKey", hdr(now.Unix(), body, "k2"), body, keys, ErrUnknownKey},
		{"ErrNoSignature", http.Header{}, body, keys, ErrNoSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Verify(c.h, c.body, c.keys, now, DefaultTolerance); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

// TestTransform checks what an answer does to each message of a batch.
func TestTransform(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) {
		out := []any{}
		for _, m := range msgs {
			switch m.Topic {
			case "keep":
				out = append(out, m)
			case "upper":
				m.Payload = strings.ToUpper(m.Payload)
				out = append(out, m)
			case "bin":
				m.Payload = base64.StdEncoding.EncodeToString([]byte{9, 9})
				out = append(out, m)
			case "retopic":
				m.Topic = "elsewhere"
				out = append(out, m)
			case "remid":
				m.Mid += 1000
				out = append(out, m)
			case "nopayload":
				out = append(out, map[string]any{"mid": m.Mid})
			case "uint8array":
				out = append(out, map[string]any{"mid": m.Mid, "payload": map[string]int{"0": 1}})
			}
		}
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8") // ignored
		_ = json.NewEncoder(w).Encode(out)
	}, nil)
	cases := []struct {
		topic   string
		bin     bool
		verdict Verdict
		payload string
		changed bool
	}{
		{"keep", false, Deliver, "p", false},
		{"upper", false, Deliver, "P", true},
		{"bin", true, Deliver, "\x09\x09", true},
		{"dropme", false, Dropped, "", false},
		{"retopic", false, Dropped, "", false},
		{"remid", false, Dropped, "", false},
		{"nopayload", false, Deliver, "p", false},
		{"uint8array", false, Dropped, "", false},
	}
	for _, c := range cases {
		t.Run(c.topic, func(t *testing.T) {
			m := text(c.topic, "p")
			if c.bin {
				m.PayloadFormat = 0
			}
			r := f.hook.Publish(m)
			if r.Verdict != c.verdict || string(r.Payload) != c.payload || r.Changed != c.changed {
				t.Fatalf("result = %+v, want %v %q changed=%v", r, c.verdict, c.payload, c.changed)
			}
		})
	}
	st := f.hook.Stats()
	if st.Changed.Load() != 2 || st.Passed.Load() != 2 || st.DroppedByHook.Load() != 4 || st.Requests[OutcomeOK].Load() != 8 {
		t.Fatalf("stats: changed %d passed %d dropped %d ok %d", st.Changed.Load(), st.Passed.Load(), st.DroppedByHook.Load(), st.Requests[OutcomeOK].Load())
	}
}

// TestBatching checks that the messages that arrive while the hook is
// busy go out together in one request, each publisher getting its own
// message's verdict.
func TestBatching(t *testing.T) {
	release := make(chan struct{})
	var first atomic.Bool
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		for i := range msgs {
			msgs[i].Payload += "!"
		}
		echo(w, msgs)
	}, func(c *Config) { c.MaxInFlight = 1 })
	const n = 40
	var wg sync.WaitGroup
	results := make([]Result, n)
	publish := func(i int) {
		defer wg.Done()
		results[i] = f.hook.Publish(text("t", itoa(int64(i))))
	}
	wg.Add(1)
	go publish(0)
	waitFor(t, "the first request", func() bool { return f.rc.requests.Load() == 1 })
	for i := 1; i < n; i++ {
		wg.Add(1)
		go publish(i)
	}
	waitFor(t, "the other messages to queue", func() bool { return f.hook.Stats().Queued.Load() == n-1 })
	close(release)
	wg.Wait()
	if got := len(f.rc.batches); got != 2 || len(f.rc.batches[1]) != n-1 {
		t.Fatalf("%d requests, the second of %d messages; want 2 and %d", got, len(f.rc.batches[len(f.rc.batches)-1]), n-1)
	}
	for i, r := range results {
		if want := itoa(int64(i)) + "!"; string(r.Payload) != want {
			t.Fatalf("publisher %d got %q, want %q", i, r.Payload, want)
		}
	}
}

// TestBatchLimits checks that a batch stops at MaxBatch messages and
// about MaxBatchBytes bytes.
func TestBatchLimits(t *testing.T) {
	release := make(chan struct{})
	var first atomic.Bool
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) {
		if first.CompareAndSwap(false, true) {
			<-release
		}
		echo(w, msgs)
	}, func(c *Config) { c.MaxInFlight, c.MaxBatch, c.MaxBatchBytes = 1, 5, 1000 })
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.hook.Publish(text("t", "x")) }()
	waitFor(t, "the first request", func() bool { return f.rc.requests.Load() == 1 })
	for i := range 12 {
		wg.Add(1)
		payload := "x"
		if i >= 10 {
			payload = strings.Repeat("y", 500) // two of these exceed 1000 bytes
		}
		go func() { defer wg.Done(); f.hook.Publish(text("t", payload)) }()
	}
	waitFor(t, "12 queued messages", func() bool { return f.hook.Stats().Queued.Load() == 12 })
	close(release)
	wg.Wait()
	for _, b := range f.rc.batches {
		size := 0
		for _, m := range b {
			size += len(m.Payload)
		}
		if len(b) > 5 || size > 1000 {
			t.Fatalf("a batch of %d messages, %d payload bytes, beyond the limits", len(b), size)
		}
	}
}

// TestFailures checks each failure under each on_failure.
func TestFailures(t *testing.T) {
	oversized := strings.Repeat(" ", 5000)
	failures := []struct {
		name      string
		fn        func(http.ResponseWriter, []wireMsg)
		outcome   Outcome
		retriable bool
	}{
		{"Timeout", nil, OutcomeTimeout, true},
		{"Status500", func(w http.ResponseWriter, _ []wireMsg) { w.WriteHeader(500) }, OutcomeStatus5xx, true},
		{"Status403", func(w http.ResponseWriter, _ []wireMsg) { w.WriteHeader(403) }, OutcomeStatus, false},
		{"Redirect", func(w http.ResponseWriter, _ []wireMsg) {
			w.Header().Set("Location", "https://example.com/")
			w.WriteHeader(307)
		}, OutcomeStatus, false},
		{"Garbage", func(w http.ResponseWriter, _ []wireMsg) { _, _ = io.WriteString(w, "<html>") }, OutcomeInvalid, false},
		{"Empty", func(w http.ResponseWriter, _ []wireMsg) {}, OutcomeInvalid, false},
		{"Oversized", func(w http.ResponseWriter, msgs []wireMsg) { _, _ = io.WriteString(w, "[]"+oversized) }, OutcomeOversized, false},
	}
	modes := []struct {
		name string
		f    Failure
	}{{"drop", FailDrop}, {"pass", FailPass}, {"retry", FailRetry}}
	for _, fl := range failures {
		for _, md := range modes {
			t.Run(fl.name+"/"+md.name, func(t *testing.T) {
				f := newFixture(t, fl.fn, func(c *Config) {
					c.OnFailure, c.MaxResponseBytes, c.Retries = md.f, 4096, 2
					if fl.outcome == OutcomeTimeout {
						c.Timeout = 50 * time.Millisecond
					}
				})
				r := f.hook.Publish(text("t", "p"))
				checkFailure(t, f.hook, r, fl.outcome, md.f, fl.retriable)
			})
		}
	}
	for _, md := range modes {
		t.Run("ConnectionRefused/"+md.name, func(t *testing.T) {
			f := newFixture(t, echo, func(c *Config) { c.OnFailure, c.Retries = md.f, 1 })
			f.srv.Close()
			r := f.hook.Publish(text("t", "p"))
			checkFailure(t, f.hook, r, OutcomeConnection, md.f, true)
		})
	}
}

func checkFailure(t *testing.T, h *Hook, r Result, outcome Outcome, mode Failure, retriable bool) {
	t.Helper()
	if r.Outcome != outcome {
		t.Fatalf("outcome = %v, want %v", r.Outcome, outcome)
	}
	switch {
	case mode == FailPass && (r.Verdict != Deliver || string(r.Payload) != "p"):
		t.Fatalf("on_failure pass: %+v, want the message unchanged", r)
	case mode != FailPass && r.Verdict != Failed:
		t.Fatalf("%+v, want it dropped", r)
	}
	attempts := int64(1)
	if mode == FailRetry && retriable {
		attempts = 1 + int64(h.cfg.Retries)
	}
	if got := h.Stats().Requests[outcome].Load(); got != attempts {
		t.Fatalf("%d requests, want %d", got, attempts)
	}
	if got := h.Stats().Retries.Load(); got != attempts-1 {
		t.Fatalf("%d retries, want %d", got, attempts-1)
	}
}

// TestRetrySucceeds checks that a retry that gets an answer delivers it.
func TestRetrySucceeds(t *testing.T) {
	var n atomic.Int64
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) {
		if n.Add(1) == 1 {
			w.WriteHeader(503)
			return
		}
		echo(w, msgs)
	}, func(c *Config) { c.OnFailure = FailRetry })
	if r := f.hook.Publish(text("t", "p")); r.Verdict != Deliver || r.Outcome != OutcomeOK {
		t.Fatalf("result = %+v", r)
	}
}

// TestNotify checks that notify mode delivers at once and sends a copy.
func TestNotify(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, _ []wireMsg) { w.WriteHeader(500) }, func(c *Config) { c.Mode = Notify })
	m := text("t", "p")
	if r := f.hook.Publish(m); r.Verdict != Deliver || string(r.Payload) != "p" {
		t.Fatalf("result = %+v", r)
	}
	m.Payload[0] = 'X' // the publisher's buffer is reused
	waitFor(t, "the copy to reach the hook", func() bool {
		f.rc.mu.Lock()
		defer f.rc.mu.Unlock()
		return len(f.rc.batches) == 1
	})
	f.rc.mu.Lock()
	defer f.rc.mu.Unlock()
	if got := f.rc.batches[0][0].Payload; got != "p" {
		t.Fatalf("the hook got %q, want the payload as published", got)
	}
}

// TestHTTP checks http:// hooks: refused unless allowed, and then only to
// private addresses.
func TestHTTP(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "[]") }))
	defer srv.Close()
	cfg := Config{URL: srv.URL, Broker: "b", KeyID: "k", Key: priv}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "--hook-allow-http") {
		t.Fatalf("New = %v, want http refused", err)
	}
	cfg.AllowHTTP = true
	h, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if r := h.Publish(text("t", "p")); r.Verdict != Dropped {
		t.Fatalf("loopback http hook: %+v", r)
	}
	cfg.URL = "http://192.0.2.1:9/hook" // TEST-NET-1: public
	pub, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if r := pub.Publish(text("t", "p")); r.Verdict != Failed || r.Outcome != OutcomeRefused {
		t.Fatalf("public http hook: %+v, want refused", r)
	}
	for _, bad := range []string{"ftp://x/", "file:///etc/passwd", "not a url", "https://user:pw@x/"} {
		cfg.URL = bad
		if _, err := New(cfg, nil); err == nil {
			t.Fatalf("New(%q) succeeded", bad)
		}
	}
}

// TestClose checks that closing releases the publishers it holds.
func TestClose(t *testing.T) {
	block := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) { <-block; echo(w, msgs) }, func(c *Config) { c.MaxInFlight = 1 })
	var wg sync.WaitGroup
	results := make([]Result, 3)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = f.hook.Publish(text("t", "p")) }()
		if i == 0 {
			waitFor(t, "the first request", func() bool { return f.rc.requests.Load() == 1 })
		}
	}
	waitFor(t, "two queued", func() bool { return f.hook.Stats().Queued.Load() == 2 })
	closed := make(chan struct{})
	go func() { f.hook.Close(); close(closed) }()
	waitFor(t, "the queued messages to fail", func() bool { return f.hook.Stats().Closed.Load() == 2 })
	close(block)
	<-closed
	wg.Wait()
	var failed, delivered int
	for _, r := range results {
		switch {
		case r.Verdict == Failed && r.Outcome == OutcomeClosed:
			failed++
		case r.Verdict == Deliver:
			delivered++
		}
	}
	if failed != 2 || delivered != 1 {
		t.Fatalf("results %+v: want the request in flight answered and 2 closed", results)
	}
	if r := f.hook.Publish(text("t", "p")); r.Verdict != Failed || r.Outcome != OutcomeClosed {
		t.Fatalf("after Close: %+v", r)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func itoa(i int64) string { return strconvItoa(i) }

// TestUntrustedCertificate checks that an https:// hook whose certificate
// does not chain to the configured roots gets nothing.
func TestUntrustedCertificate(t *testing.T) {
	f := newFixture(t, echo, func(c *Config) { c.RootCAs = x509NewCertPool() })
	if r := f.hook.Publish(text("t", "p")); r.Verdict != Failed || r.Outcome != OutcomeConnection {
		t.Fatalf("result = %+v, want a connection failure", r)
	}
	if f.rc.requests.Load() != 0 {
		t.Fatal("the request reached a server with an untrusted certificate")
	}
}

// TestTry checks the probe behind `pubsub broker hook-test`.
func TestTry(t *testing.T) {
	var teapot atomic.Bool
	f := newFixture(t, func(w http.ResponseWriter, msgs []wireMsg) {
		if teapot.Load() {
			w.WriteHeader(418)
			return
		}
		msgs[0].Payload = "changed"
		echo(w, msgs[:1])
	}, nil)
	p, err := Try(t.Context(), f.cfg, []*Message{text("a", "x"), text("b", "y")})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != 200 || p.Outcome != OutcomeOK || len(p.Results) != 2 || !p.Results[0].Changed || p.Results[1].Verdict != Dropped {
		t.Fatalf("probe = %+v", p)
	}
	teapot.Store(true)
	if p, _ = Try(t.Context(), f.cfg, []*Message{text("a", "x")}); p.Status != 418 || p.Outcome != OutcomeStatus {
		t.Fatalf("probe = %+v", p)
	}
}

// TestKeepAlive checks that successive requests reuse one TLS
// connection, after an answer that is not 200 too: a handshake per batch
// would cost more than the batch.
func TestKeepAlive(t *testing.T) {
	var conns, requests atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if requests.Add(1)%2 == 0 {
			http.Error(w, "every other request fails", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(body)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	h, err := New(Config{URL: srv.URL, Broker: "b.ns.pubsub.test", KeyID: "k", Key: priv, RootCAs: certPool(srv)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for i := range 10 {
		want := Deliver
		if i%2 == 1 {
			want = Failed
		}
		if r := h.Publish(text("t", "p")); r.Verdict != want {
			t.Fatalf("request %d: %+v, want %v", i+1, r, want)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("10 requests opened %d connections, want 1", got)
	}
}
