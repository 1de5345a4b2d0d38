package edge_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// waitFor bounds every wait of these tests; nothing is expected to take
// more than a small fraction of it.
const waitFor = 10 * time.Second

// testBroker is a broker with its signing key.
type testBroker struct {
	id, host, kid string
	priv          ed25519.PrivateKey
	feed          feed.Broker
}

func newTestBroker(t testing.TB, id string) *testBroker {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := token.NewJWK(pub)
	host := id + ".edge.test"
	return &testBroker{
		id: id, host: host, kid: jwk.Kid, priv: priv,
		feed: feed.Broker{ID: id, Name: id, Namespace: "ns", Hostname: host, Keys: []feed.Key{{ID: jwk.Kid, X: jwk.X, State: "current"}}},
	}
}

// token mints a token for the broker with ACL ["#"] and a random jti.
func (b *testBroker) token(t testing.TB) (tok, jti string) {
	t.Helper()
	var r [8]byte
	_, _ = rand.Read(r[:])
	c := &token.Claims{
		Subject: "client-" + hex.EncodeToString(r[:4]), ID: "jti-" + hex.EncodeToString(r[:]),
		Audience: b.host, IssuedAt: time.Now().Unix(), TopicACL: []string{"#"},
	}
	tok, err := token.Sign(b.priv, b.kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok, c.ID
}

// testBus is an in-memory bus. Subscribing to a filter listed in block
// waits until unblock is closed, like a Subscribe that is slow to match.
type testBus struct {
	mu        sync.Mutex
	subs      map[int]testSub
	next      int
	published atomic.Int64

	block     map[string]bool
	subscribe chan string // receives a blocked filter when Subscribe starts waiting
	unblock   chan struct{}
}

type testSub struct {
	filter  string
	deliver func(*broker.Message)
}

func newTestBus() *testBus {
	return &testBus{subs: map[int]testSub{}, block: map[string]bool{}, subscribe: make(chan string, 10), unblock: make(chan struct{})}
}

// Publish delivers m to the subscriptions whose filter is its topic.
func (b *testBus) Publish(m *broker.Message) error {
	b.published.Add(1)
	b.mu.Lock()
	var ds []func(*broker.Message)
	for _, s := range b.subs {
		if s.filter == m.Topic {
			ds = append(ds, s.deliver)
		}
	}
	b.mu.Unlock()
	for _, d := range ds {
		d(m)
	}
	return nil
}

func (b *testBus) Subscribe(filter string, deliver func(*broker.Message)) (func(), error) {
	if b.block[filter] {
		b.subscribe <- filter
		<-b.unblock
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	id := b.next
	b.subs[id] = testSub{filter, deliver}
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}, nil
}

func (b *testBus) Retained(string) []*broker.Message { return nil }

// testBackend serves the brokers of its State from test buses. Bus for
// a broker listed in block waits until unblock is closed, like a node
// that is slow to start that broker's server.
type testBackend struct {
	state atomic.Pointer[broker.State]
	buses map[string]*testBus // by broker id, fixed before the server starts

	block   map[string]bool
	bus     chan string // receives a blocked broker id when Bus starts waiting
	unblock chan struct{}
}

func (b *testBackend) State() *broker.State { return b.state.Load() }

func (b *testBackend) Bus(br *broker.Broker) edge.Bus {
	if b.block[br.ID] {
		b.bus <- br.ID
		<-b.unblock
	}
	if b.state.Load().Broker(br.ID) == nil {
		return nil
	}
	return b.buses[br.ID]
}

func (b *testBackend) ServeMQTT(c net.Conn, _ *broker.Broker) { _ = c.Close() }

// env is an edge serving HTTPS on a port of 127.0.0.1, for the brokers
// of its State.
type env struct {
	t       testing.TB
	srv     *edge.Server
	backend *testBackend
	brokers map[string]*testBroker
	addr    string
	pool    *x509.CertPool
}

// newEnv starts an edge with cfg for brokers named ids, each on its own
// test bus. The State holds the brokers of serve only (all when nil).
func newEnv(t testing.TB, cfg edge.Config, ids []string, serve []string) *env {
	t.Helper()
	e := &env{t: t, brokers: map[string]*testBroker{}}
	e.backend = &testBackend{buses: map[string]*testBus{}, block: map[string]bool{}, bus: make(chan string, 10), unblock: make(chan struct{})}
	for _, id := range ids {
		e.brokers[id] = newTestBroker(t, id)
		e.backend.buses[id] = newTestBus()
	}
	if serve == nil {
		serve = ids
	}
	var fbs []feed.Broker
	for _, id := range serve {
		fbs = append(fbs, e.brokers[id].feed)
	}
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 1, Brokers: fbs})
	if err != nil {
		t.Fatal(err)
	}
	e.backend.state.Store(st)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.srv, err = edge.New(cfg, e.backend); err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t, "*.edge.test")
	e.pool = pool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.srv.Serve(tln)
	}()
	t.Cleanup(func() {
		_ = e.srv.Close()
		<-done
	})
	return e
}

// selfSigned returns a certificate for host and a pool that trusts it.
func selfSigned(t testing.TB, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// apply changes the State by evs, then gives the change to the edge as
// the node does: the backend's State first, then Apply. It returns a
// channel closed when Apply has returned.
func (e *env) apply(evs ...feed.Event) <-chan struct{} {
	e.t.Helper()
	old := e.backend.state.Load()
	for i := range evs {
		evs[i].Revision = old.Revision() + int64(i) + 1
	}
	st, err := old.Apply(evs...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.backend.state.Store(st)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.srv.Apply(old, st, time.Now())
	}()
	return done
}

// client returns an HTTP/1.1 client of the edge.
func (e *env) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.pool},
	}}
}

// do sends a request to broker id's hostname with tok; the caller closes
// the response's body.
func (e *env) do(ctx context.Context, method, id, target, tok, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+e.brokers[id].host+target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return e.client().Do(req)
}

// publish sends POST /events?topic=topic and returns the status, the
// headers and the body.
func (e *env) publish(id, topic, tok, body string) (int, http.Header, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := e.do(ctx, "POST", id, "/events?topic="+topic, tok, body)
	if err != nil {
		e.t.Fatalf("publish to %s: %v", id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// sseEvent is one server-sent event.
type sseEvent struct{ event, data string }

// stream opens GET /events?topic=topic on broker id and returns its
// events; it fails the test unless the stream opens.
func (e *env) stream(id, topic, tok string) <-chan sseEvent {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	resp, err := e.do(ctx, "GET", id, "/events?topic="+topic, tok, "")
	if err != nil {
		e.t.Fatalf("SSE on %s: %v", id, err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("SSE on %s: %d %s", id, resp.StatusCode, b)
	}
	events := make(chan sseEvent, 100)
	go readEvents(resp.Body, events)
	if ev := next(e.t, events); ev.event != "stream-open" {
		e.t.Fatalf("first event %+v, want stream-open", ev)
	}
	return events
}

// readEvents parses an event stream into events, closing it at the end.
func readEvents(body io.ReadCloser, events chan<- sseEvent) {
	defer close(events)
	defer body.Close()
	r := bufio.NewReader(body)
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		field, value, _ := strings.Cut(line, ": ")
		switch {
		case line == "":
			if ev.event != "" {
				events <- ev
			}
			ev = sseEvent{}
		case field == "event":
			ev.event = value
		case field == "data":
			ev.data += value
		}
	}
}

// next returns the next event, failing the test after waitFor.
func next(t testing.TB, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event")
	}
	return sseEvent{}
}

// errorCode returns the first code of an error envelope.
func errorCode(t testing.TB, body string) int {
	t.Helper()
	var env struct {
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || len(env.Errors) != 1 || env.Errors[0].Message == "" {
		t.Fatalf("not an error envelope: %q (%v)", body, err)
	}
	return env.Errors[0].Code
}

// within waits for ch to close, failing the test with what after waitFor.
func within(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitFor):
		t.Fatalf("%s: still waiting after %v", what, waitFor)
	}
}
