package node_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// waitFor bounds every wait of the tests; nothing sleeps for timing.
const waitFor = 5 * time.Second

// testCA issues server certificates for the test brokers.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pubsub test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate for a DNS name, or for 127.0.0.1 when host
// is empty.
func (ca *testCA) issue(t testing.TB, host string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if host == "" {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// certSource is a node.CertSource with one certificate per hostname and
// an IP certificate for connections without SNI.
type certSource struct {
	mu    sync.Mutex
	bySNI map[string]*tls.Certificate
	noSNI *tls.Certificate
}

func (s *certSource) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hello.ServerName == "" {
		return s.noSNI, nil
	}
	if c := s.bySNI[strings.ToLower(hello.ServerName)]; c != nil {
		return c, nil
	}
	return nil, errors.New("no certificate")
}

// testBroker is a broker with its signing key.
type testBroker struct {
	id, host string
	kid      string
	priv     ed25519.PrivateKey
	feed     feed.Broker
}

func newTestBroker(t testing.TB, id string) *testBroker {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := token.NewJWK(pub)
	host := id + ".ns.pubsub.test"
	return &testBroker{
		id: id, host: host, kid: jwk.Kid, priv: priv,
		feed: feed.Broker{ID: id, Name: id, Namespace: "ns", Hostname: host, Keys: []feed.Key{{ID: jwk.Kid, X: jwk.X, State: "current"}}},
	}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// token mints a token for the broker: sub and jti random, aud the
// broker's hostname, issued now, ACL ["#"], then edit applied.
func (b *testBroker) token(t testing.TB, edit func(*token.Claims)) (string, *token.Claims) {
	t.Helper()
	c := &token.Claims{
		Subject:   "client-" + randomID(),
		ID:        "jti-" + randomID(),
		Audience:  b.host,
		IssuedAt:  time.Now().Unix(),
		TopicACL:  []string{"#"},
		ExpiresAt: 0,
	}
	if edit != nil {
		edit(c)
	}
	tok, err := token.Sign(b.priv, b.kid, c)
	if err != nil {
		t.Fatalf("token.Sign: %v", err)
	}
	return tok, c
}

// syncBuffer collects the node's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running node with test brokers.
type env struct {
	t       testing.TB
	node    *node.Node
	ca      *testCA
	certs   *certSource
	brokers map[string]*testBroker
	state   *broker.State
	rev     int64
	logs    *syncBuffer
	addr    string
}

// newEnv starts a node with the given limits and brokers, and applies
// its first State.
func newEnv(t testing.TB, limits node.Limits, ids ...string) *env {
	t.Helper()
	e := newEnvNotReady(t, limits, ids...)
	var fbs []feed.Broker
	for _, id := range ids {
		fbs = append(fbs, e.brokers[id].feed)
	}
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 1, Brokers: fbs})
	if err != nil {
		t.Fatal(err)
	}
	e.state, e.rev = st, 1
	e.node.Apply(st)
	return e
}

// newEnvNotReady starts a node without applying any State.
func newEnvNotReady(t testing.TB, limits node.Limits, ids ...string) *env {
	t.Helper()
	e := &env{t: t, ca: newCA(t), brokers: map[string]*testBroker{}, logs: &syncBuffer{}}
	e.certs = &certSource{bySNI: map[string]*tls.Certificate{}, noSNI: e.ca.issue(t, "")}
	for _, id := range ids {
		b := newTestBroker(t, id)
		e.brokers[id] = b
		e.certs.bySNI[b.host] = e.ca.issue(t, b.host)
	}
	if limits.IdleLinger == 0 {
		// Sessions hand their wait over after 50 ms without a packet, so
		// every test also runs sessions that have gone idle and woken.
		limits.IdleLinger = 50 * time.Millisecond
	}
	n, err := node.New(node.Config{
		MQTTAddrs:  []string{"127.0.0.1:0"},
		HTTPSAddrs: []string{"127.0.0.1:0"},
		OpsAddr:    "127.0.0.1:0",
		Certs:      e.certs,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Limits:     limits,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	e.node = n
	e.addr = n.MQTTAddrs()[0].String()
	return e
}

// apply applies feed events to the env's State and gives it to the node.
func (e *env) apply(evs ...feed.Event) {
	e.t.Helper()
	for i := range evs {
		e.rev++
		evs[i].Revision = e.rev
	}
	st, err := e.state.Apply(evs...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.state = st
	e.node.Apply(st)
}

// dialTLS opens a TLS connection that sends host as SNI, or no SNI when
// host is empty (the client dialed an IP address).
func (e *env) dialTLS(host string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: waitFor}
	return tls.DialWithDialer(d, "tcp", e.addr, &tls.Config{ServerName: host, RootCAs: e.ca.pool})
}

// client is a paho MQTT v5 client with what the server sent it.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
	done <-chan struct{}
}

// connect opens an MQTT session with a CONNECT carrying tok as password.
func (e *env) connect(host, clientID, tok string, edit func(*paho.Connect)) (*client, *paho.Connack, error) {
	e.t.Helper()
	tc, err := e.dialTLS(host)
	if err != nil {
		return nil, nil, err
	}
	c := &client{msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: packets.NewThreadSafeConn(tc),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
	})
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true}
	if edit != nil {
		edit(cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		return nil, ca, err
	}
	c.done = c.Done()
	e.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, ca, nil
}

// mustConnect connects with a fresh token of broker id.
func (e *env) mustConnect(id string) (*client, *token.Claims) {
	e.t.Helper()
	tok, claims := e.brokers[id].token(e.t, nil)
	c, ca, err := e.connect(e.brokers[id].host, claims.Subject, tok, nil)
	if err != nil {
		e.t.Fatalf("connect to %s: %v (CONNACK %+v)", id, err, ca)
	}
	return c, claims
}

func (c *client) subscribe(t testing.TB, filter string, qos byte) (*paho.Suback, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
}

func (c *client) publish(t testing.TB, topic string, qos byte, payload string) (*paho.PublishResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	return c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
}

// expectMessage waits for a message on topic with payload.
func (c *client) expectMessage(t testing.TB, topic, payload string) {
	t.Helper()
	select {
	case m := <-c.msgs:
		if m.Topic != topic || string(m.Payload) != payload {
			t.Fatalf("got message %q on %q, want %q on %q", m.Payload, m.Topic, payload, topic)
		}
	case <-time.After(waitFor):
		t.Fatalf("no message %q on %q", payload, topic)
	}
}

// expectNoMessage checks that nothing arrived once a later marker has:
// the broker delivers in order, so no timing is involved.
func (c *client) expectNoMessageBefore(t testing.TB, marker string) {
	t.Helper()
	select {
	case m := <-c.msgs:
		if string(m.Payload) != marker {
			t.Fatalf("got message %q on %q, want only the marker %q", m.Payload, m.Topic, marker)
		}
	case <-time.After(waitFor):
		t.Fatalf("marker %q never arrived", marker)
	}
}

// expectDisconnect waits for a DISCONNECT from the server.
func (c *client) expectDisconnect(t testing.TB, code byte) *paho.Disconnect {
	t.Helper()
	select {
	case d := <-c.disc:
		if d.ReasonCode != code {
			t.Fatalf("DISCONNECT reason code = %#x (%+v), want %#x", d.ReasonCode, d.Properties, code)
		}
		return d
	case <-time.After(waitFor):
		t.Fatalf("no DISCONNECT %#x", code)
	}
	return nil
}

// rawConn is a TLS connection the test speaks MQTT on byte by byte.
type rawConn struct {
	*tls.Conn
}

func (e *env) dialRaw(host string) *rawConn {
	e.t.Helper()
	tc, err := e.dialTLS(host)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = tc.Close() })
	_ = tc.SetDeadline(time.Now().Add(waitFor))
	return &rawConn{tc}
}

// connectV5 sends a v5 CONNECT with tok and returns the CONNACK.
func (r *rawConn) connectV5(t testing.TB, clientID, tok string) *packets.Connack {
	t.Helper()
	return r.connectV5With(t, clientID, tok, nil)
}

// connectV5With is connectV5 with a CONNECT that edit may change first.
func (r *rawConn) connectV5With(t testing.TB, clientID, tok string, edit func(*packets.Connect)) *packets.Connack {
	t.Helper()
	cp := packets.NewControlPacket(packets.CONNECT)
	c := cp.Content.(*packets.Connect)
	c.ProtocolName, c.ProtocolVersion = "MQTT", 5
	c.ClientID, c.KeepAlive, c.CleanStart = clientID, 30, true
	c.Password, c.PasswordFlag = []byte(tok), true
	if edit != nil {
		edit(c)
	}
	if _, err := cp.WriteTo(r); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	p := r.read(t)
	ack, ok := p.Content.(*packets.Connack)
	if !ok {
		t.Fatalf("got %T, want CONNACK", p.Content)
	}
	return ack
}

// subscribe sends a SUBSCRIBE of one filter with packet id 1 and returns
// the SUBACK.
func (r *rawConn) subscribe(t testing.TB, filter string, qos byte) *packets.Suback {
	t.Helper()
	sp := packets.NewControlPacket(packets.SUBSCRIBE)
	sp.Content.(*packets.Subscribe).PacketID = 1
	sp.Content.(*packets.Subscribe).Subscriptions = []packets.SubOptions{{Topic: filter, QoS: qos}}
	if _, err := sp.WriteTo(r); err != nil {
		t.Fatalf("write SUBSCRIBE: %v", err)
	}
	p := r.read(t)
	sa, ok := p.Content.(*packets.Suback)
	if !ok {
		t.Fatalf("got %T, want SUBACK", p.Content)
	}
	return sa
}

// puback acknowledges the QoS 1 delivery with packet id id.
func (r *rawConn) puback(t testing.TB, id uint16) {
	t.Helper()
	pa := packets.NewControlPacket(packets.PUBACK)
	pa.Content.(*packets.Puback).PacketID = id
	if _, err := pa.WriteTo(r); err != nil {
		t.Fatalf("write PUBACK: %v", err)
	}
}

// receiveMaximum sets a CONNECT's Receive Maximum, for connectV5With.
func receiveMaximum(n uint16) func(*packets.Connect) {
	return func(c *packets.Connect) { c.Properties = &packets.Properties{ReceiveMaximum: &n} }
}

// read reads one packet.
func (r *rawConn) read(t testing.TB) *packets.ControlPacket {
	t.Helper()
	p, err := packets.ReadPacket(r)
	if err != nil {
		t.Fatalf("read packet: %v", err)
	}
	return p
}

// expectClosed reads until the server closes the connection, failing on
// anything but a DISCONNECT with the given code (0 accepts none).
func (r *rawConn) expectClosed(t testing.TB, disconnect byte) {
	t.Helper()
	sawDisconnect := false
	for {
		p, err := packets.ReadPacket(r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server did not close the connection")
			}
			break
		}
		d, ok := p.Content.(*packets.Disconnect)
		if !ok || d.ReasonCode != disconnect {
			t.Fatalf("got %v, want DISCONNECT %#x then close", p, disconnect)
		}
		sawDisconnect = true
	}
	if disconnect != 0 && !sawDisconnect {
		t.Fatalf("connection closed without DISCONNECT %#x", disconnect)
	}
}

// readUntilClosed returns what the server sends until it closes the
// connection; a reset counts as a close, a timeout fails the test.
func readUntilClosed(t testing.TB, r io.Reader) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server did not close the connection")
			}
			return got
		}
	}
}

// v311Connect encodes an MQTT 3.1.1 CONNECT with a password.
func v311Connect(clientID, password string) []byte {
	var body []byte
	body = append(body, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02|0x40|0x80, 0, 30)
	for _, s := range []string{clientID, "user", password} {
		body = append(body, byte(len(s)>>8), byte(len(s)))
		body = append(body, s...)
	}
	return append(append([]byte{0x10}, varint(len(body))...), body...)
}

// varint encodes an MQTT variable byte integer.
func varint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// get fetches a path of the ops server.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get("http://" + e.node.OpsAddr().String() + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric returns the value of one sample of /metrics, -1 if absent. The
// sample is written as in the text format, name{label="value",...}, its
// labels in any order.
func (e *env) metric(sample string) int64 {
	e.t.Helper()
	_, body := e.get("/metrics")
	want := canonicalSample(sample)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || canonicalSample(line[:i]) != want {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("sample %q: %v", line, err)
		}
		return int64(v)
	}
	return -1
}

// canonicalSample sorts the labels of name{a="x",b="y"}; the tests' label
// values hold no commas.
func canonicalSample(s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return s
	}
	pairs := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
