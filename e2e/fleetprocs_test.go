package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/openpubsub/pubsub/broker/certs"
)

// The fleet as operators run it: three real nats-server processes, the
// `pubsub controlplane` process on its embedded store, and three
// `pubsub broker serve` processes with the production flags (node
// tokens, a certificate directory, --nats-url), all on loopback.

// fleetWait bounds every wait of the fleet test: generous, since the
// machine may be loaded; each wait polls and ends as soon as it can.
const fleetWait = 20 * time.Second

const (
	fleetDomain = "pubsub.localhost"
	otherHost   = "other-broker.my-namespace." + fleetDomain
)

// fleetProcs is the running fleet.
type fleetProcs struct {
	nats  *natsCluster
	pool  *x509.CertPool // trusts the nodes' certificates
	api   string         // the control plane's /client/v4/accounts/<id>/pubsub
	email string
	key   string
	nodes []*nodeProc
}

// nodeProc is one `pubsub broker serve` process.
type nodeProc struct {
	k                int // 1-based
	cmd              *exec.Cmd
	mqtt, https, ops string
	web              *http.Client // HTTPS to this node, whatever the URL's host
}

// runProc starts a long-running process with its output in a file,
// shown if the test fails, and kills it when the test ends.
func runProc(t *testing.T, name string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				if len(out) > 20000 {
					out = out[len(out)-20000:]
				}
				t.Logf("%s's output (end):\n%s", name, out)
			}
		}
	})
	return cmd
}

// pollHTTP polls url until it answers 200 with a body containing want.
func pollHTTP(t *testing.T, what, url, want string) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	last := ""
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s never answered 200 with %q; last: %s", what, url, want, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startFleetProcs starts the NATS cluster, the control plane and three
// nodes, and makes my-namespace with example-broker and other-broker.
func startFleetProcs(t *testing.T) *fleetProcs {
	t.Helper()
	dir := t.TempDir()
	var bin string
	built := make(chan struct{})
	go func() { // builds while the NATS cluster starts
		defer close(built)
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "pubsub"), "github.com/openpubsub/pubsub/cmd/pubsub").CombinedOutput()
		if err != nil {
			t.Errorf("build pubsub: %v\n%s", err, out)
			return
		}
		bin = filepath.Join(dir, "pubsub")
	}()
	f := &fleetProcs{nats: startNATSCluster(t)}
	<-built
	if bin == "" {
		t.FailNow()
	}

	// The control plane's store, account and node tokens, made with the
	// admin commands before it starts, as README "Running in production".
	cpDir := filepath.Join(dir, "controlplane")
	cli := func(args ...string) string {
		out, err := exec.Command(bin, append(args, "--data-dir", cpDir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("pubsub %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	acct := map[string]string{}
	for _, l := range strings.Split(cli("account", "create", "--email", "ops@example.com"), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			acct[k] = v
		}
	}
	f.email, f.key = acct["CF_API_EMAIL"], acct["CF_API_KEY"]
	var nodeTokens []string
	for k := 1; k <= 3; k++ {
		lines := strings.Fields(cli("node", "token", "create", "--name", fmt.Sprint("node-", k)))
		nodeTokens = append(nodeTokens, lines[len(lines)-1])
	}
	cpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	runProc(t, "controlplane", []string{"PUBSUB_KEK=" + strings.Repeat("ab", 32)}, bin,
		"controlplane", "--data-dir", cpDir, "--addr", cpAddr, "--domain", fleetDomain)
	pollHTTP(t, "the control plane", "http://"+cpAddr+"/healthz", "")
	f.api = "http://" + cpAddr + "/client/v4/accounts/" + acct["CF_ACCOUNT_ID"] + "/pubsub"

	// Certificates for the two brokers' hostnames, in a --cert-dir.
	ca, err := certs.OpenDevCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	f.pool = x509.NewCertPool()
	f.pool.AppendCertsFromPEM(caPEM)
	certDir := filepath.Join(dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{brokerHost, otherHost} {
		c, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: host})
		if err != nil {
			t.Fatal(err)
		}
		key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
		if err := os.WriteFile(filepath.Join(certDir, host+".crt"), crt, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, host+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	for k := 1; k <= 3; k++ {
		n := &nodeProc{k: k,
			mqtt:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			https: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			ops:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		}
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, n.https)
			},
			TLSClientConfig: &tls.Config{RootCAs: f.pool},
		}
		t.Cleanup(tr.CloseIdleConnections)
		n.web = &http.Client{Transport: tr}
		n.cmd = runProc(t, fmt.Sprint("node-", k), nil, bin, "broker", "serve",
			"--control-plane", "http://"+cpAddr, "--node-token", nodeTokens[k-1],
			"--cert-dir", certDir, "--data-dir", filepath.Join(dir, fmt.Sprint("node-", k)),
			"--mqtt-addr", n.mqtt, "--https-addr", n.https, "--ops-addr", n.ops,
			"--nats-url", strings.Join(f.nats.urls, ","), "--nats-node-id", fmt.Sprint("node-", k))
		f.nodes = append(f.nodes, n)
	}
	for _, n := range f.nodes {
		pollHTTP(t, fmt.Sprint("node ", n.k), "http://"+n.ops+"/readyz", "nats: connected")
	}

	f.call(t, "POST", "/namespaces", `{"name": "my-namespace"}`, nil)
	for _, b := range []string{"example-broker", "other-broker"} {
		f.call(t, "POST", "/namespaces/my-namespace/brokers", `{"name": "`+b+`", "authType": "TOKEN"}`, nil)
	}
	return f
}

// call makes a REST call and decodes its result into out (if not nil).
func (f *fleetProcs) call(t *testing.T, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, f.api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Email", f.email)
	req.Header.Set("X-Auth-Key", f.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Result  json.RawMessage `json:"result"`
		Success bool            `json:"success"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &env); err != nil || !env.Success {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// tokens mints n tokens of a broker, allowed every topic.
func (f *fleetProcs) tokens(t *testing.T, brokerName string, n int) []string {
	t.Helper()
	var creds map[string]string
	f.call(t, "GET", fmt.Sprintf("/namespaces/my-namespace/brokers/%s/credentials?number=%d&type=TOKEN&topicAcl=%%23", brokerName, n), "", &creds)
	var out []string
	for _, tok := range creds {
		out = append(out, tok)
	}
	if len(out) != n {
		t.Fatalf("minted %d tokens, want %d", len(out), n)
	}
	return out
}

// delivered is a message as a subscriber of any transport got it.
type delivered struct {
	topic, payload string
	retain         bool
}

// fleetClient is an MQTT v5 session over TLS or WebSocket.
type fleetClient struct {
	*paho.Client
	got  chan delivered
	disc chan *paho.Disconnect
}

// dialer opens the byte stream an MQTT session runs on.
type dialer func() (net.Conn, error)

// tlsDialer reaches node n's MQTT listener with host as SNI.
func (f *fleetProcs) tlsDialer(n *nodeProc, host string) dialer {
	return func() (net.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.mqtt, &tls.Config{ServerName: host, RootCAs: f.pool})
	}
}

// wsDialer reaches node n's /mqtt over WebSocket for host.
func (f *fleetProcs) wsDialer(n *nodeProc, host string) dialer {
	return func() (net.Conn, error) {
		d := websocket.Dialer{
			NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, n.https)
			},
			TLSClientConfig:  &tls.Config{RootCAs: f.pool},
			HandshakeTimeout: 5 * time.Second,
			Subprotocols:     []string{"mqtt"},
		}
		ws, _, err := d.Dial("wss://"+host+"/mqtt", nil)
		if err != nil {
			return nil, err
		}
		return &wsConn{Conn: ws}, nil // mqtt_test.go
	}
}

// connect opens one MQTT session with tok; the CONNACK comes back with
// the error of a refusal.
func connect(dial dialer, tok string) (*fleetClient, *paho.Connack, error) {
	conn, err := dial()
	if err != nil {
		return nil, nil, err
	}
	c := &fleetClient{got: make(chan delivered, 256), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: pahoConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.got <- delivered{pr.Packet.Topic, string(pr.Packet.Payload), pr.Packet.Retain}
			return true, nil
		}},
		OnServerDisconnect: func(dc *paho.Disconnect) {
			select {
			case c.disc <- dc:
			default:
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true})
	if err != nil {
		conn.Close()
		return nil, ack, err
	}
	return c, ack, nil
}

// mustConnect connects, retrying while the node has not yet had the
// broker from the control plane's feed.
func mustConnect(t *testing.T, dial dialer, tok string) *fleetClient {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	for {
		c, _, err := connect(dial, tok)
		if err == nil {
			t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *fleetClient) subscribe(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fleetWait)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] > 2 {
		t.Fatalf("subscribe %s: %+v %v", filter, sa, err)
	}
}

// publish publishes with QoS 1 and waits for the PUBACK.
func (c *fleetClient) publish(t *testing.T, topic, payload string, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fleetWait)
	defer cancel()
	r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(payload)})
	if err != nil || r.ReasonCode >= 0x80 {
		t.Fatalf("publish %s: %+v %v", topic, r, err)
	}
}

// publishHTTP publishes payload to topic with POST /events on node n.
func (n *nodeProc) publishHTTP(t *testing.T, host, tok, topic, payload string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "https://"+host+"/events?topic="+url.QueryEscape(topic), strings.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := n.web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"success":true`)) {
		t.Fatalf("HTTP publish on node %d: %d %s", n.k, resp.StatusCode, b)
	}
}

// subscribeSSE opens GET /events on node n and returns its messages,
// once the stream is open.
func (n *nodeProc) subscribeSSE(t *testing.T, host, tok, topic string) chan delivered {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+host+"/events?topic="+url.QueryEscape(topic), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	var resp *http.Response
	deadline := time.Now().Add(fleetWait)
	for {
		var err error
		resp, err = n.web.Do(req)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("SSE on node %d: %v", n.k, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := make(chan delivered, 256)
	open := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		event, data := "", []string(nil)
		for sc.Scan() {
			switch l := sc.Text(); {
			case l == "":
				switch event {
				case "stream-open":
					close(open)
				case "message":
					got <- delivered{payload: strings.Join(data, "\n")}
				}
				event, data = "", nil
			case strings.HasPrefix(l, "event: "):
				event = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: "):
				data = append(data, strings.TrimPrefix(l, "data: "))
			}
		}
	}()
	select {
	case <-open:
	case <-time.After(fleetWait):
		t.Fatalf("SSE on node %d: no stream-open", n.k)
	}
	return got
}

// probe publishes "probe" until every subscriber has had one: then each
// subscriber's interest has reached the publisher's NATS server. Any
// other message fails the test.
func probe(t *testing.T, publish func(), subs ...chan delivered) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	probed := make([]bool, len(subs))
	for left := len(subs); left > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers never got a probe", left)
		}
		publish()
		round := time.After(100 * time.Millisecond)
	wait:
		for {
			for i, ch := range subs {
				select {
				case d := <-ch:
					if d.payload != "probe" {
						t.Fatalf("subscriber %d got %q while probing", i, d.payload)
					}
					if !probed[i] {
						probed[i], left = true, left-1
					}
					continue wait
				default:
				}
			}
			select {
			case <-round:
				break wait
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// expectInOrder waits for want on ch, in order, after any probes.
func expectInOrder(t *testing.T, what string, ch chan delivered, want []string) {
	t.Helper()
	timeout := time.After(fleetWait)
	for i := 0; i < len(want); {
		select {
		case d := <-ch:
			if i == 0 && d.payload == "probe" {
				continue
			}
			if d.payload != want[i] {
				t.Fatalf("%s: got %q, want %q (message %d)", what, d.payload, want[i], i)
			}
			i++
		case <-timeout:
			t.Fatalf("%s: no message %q", what, want[i])
		}
	}
}

// expectDisconnect waits for the server's DISCONNECT with reason code.
func (c *fleetClient) expectDisconnect(t *testing.T, what string, code byte) {
	t.Helper()
	select {
	case dc := <-c.disc:
		if dc.ReasonCode != code {
			t.Fatalf("%s: DISCONNECT %#x, want %#x", what, dc.ReasonCode, code)
		}
	case <-time.After(fleetWait):
		t.Fatalf("%s: no DISCONNECT", what)
	}
}

// TestFleetProcesses runs the fleet as operators do (issue 15's first
// acceptance point): what is published on node 1 over MQTT and HTTP
// reaches MQTT, WebSocket and SSE subscribers on nodes 2 and 3 in order;
// a shared subscription split over two nodes gets each message once; a
// client id moves between nodes; a revocation ends clients on every
// node; two brokers never see each other's messages; a retained message
// published on node 1 reaches new subscribers on node 3, also after node
// 1 is killed with SIGKILL; and nodes that lose every NATS server serve
// their own clients, then join the fleet again once NATS is back.
func TestFleetProcesses(t *testing.T) {
	start := time.Now()
	f := startFleetProcs(t)
	n1, n2, n3 := f.nodes[0], f.nodes[1], f.nodes[2]
	toks := f.tokens(t, "example-broker", 20)
	other := f.tokens(t, "other-broker", 3)
	t.Logf("fleet up in %v", time.Since(start))

	// Subscribers of both brokers on nodes 2 and 3, over every transport.
	var subs []chan delivered
	var names []string
	for i, n := range []*nodeProc{n2, n3} {
		m := mustConnect(t, f.tlsDialer(n, brokerHost), toks[3*i])
		m.subscribe(t, "room/#")
		w := mustConnect(t, f.wsDialer(n, brokerHost), toks[3*i+1])
		w.subscribe(t, "room/#")
		s := n.subscribeSSE(t, brokerHost, toks[3*i+2], "room/1")
		subs = append(subs, m.got, w.got, s)
		names = append(names, fmt.Sprintf("MQTT on node %d", n.k), fmt.Sprintf("WebSocket on node %d", n.k), fmt.Sprintf("SSE on node %d", n.k))
	}
	var otherSubs []chan delivered
	for i, n := range []*nodeProc{n2, n3} {
		c := mustConnect(t, f.tlsDialer(n, otherHost), other[i])
		c.subscribe(t, "#")
		otherSubs = append(otherSubs, c.got)
	}

	t.Run("FanOutInOrder", func(t *testing.T) {
		pub := mustConnect(t, f.tlsDialer(n1, brokerHost), toks[6])
		probe(t, func() { pub.publish(t, "room/1", "probe", false) }, subs...)
		var want []string
		for i := range 20 {
			want = append(want, fmt.Sprint("mqtt-", i))
			pub.publish(t, "room/1", want[len(want)-1], false)
		}
		for i := range 10 {
			want = append(want, fmt.Sprint("http-", i))
			n1.publishHTTP(t, brokerHost, toks[7], "room/1", want[len(want)-1])
		}
		for i, ch := range subs {
			expectInOrder(t, names[i], ch, want)
		}
	})

	t.Run("SharedSubscriptionOnce", func(t *testing.T) {
		a := mustConnect(t, f.tlsDialer(n2, brokerHost), toks[8])
		b := mustConnect(t, f.tlsDialer(n3, brokerHost), toks[9])
		for _, c := range []*fleetClient{a, b} {
			c.subscribe(t, "$share/workers/jobs/#")
		}
		pub := mustConnect(t, f.tlsDialer(n1, brokerHost), toks[10])
		// Probes reach one member each: publish until both had one.
		probe(t, func() { pub.publish(t, "jobs/1", "probe", false) }, a.got, b.got)
		const n = 40
		for i := range n {
			pub.publish(t, "jobs/1", fmt.Sprint(i), false)
		}
		// Each member gets its messages in publish order, so once each
		// had an "end" published after them all, nothing more can come.
		seen := map[string]int{}
		per := []int{0, 0}
		ended := []bool{false, false}
		timeout := time.After(fleetWait)
		for !ended[0] || !ended[1] {
			if len(seen) == n {
				pub.publish(t, "jobs/1", "end", false)
			}
			round := time.After(100 * time.Millisecond)
		wait:
			for {
				select {
				case d := <-a.got:
					if d.payload == "end" {
						ended[0] = true
					} else if d.payload != "probe" {
						seen[d.payload]++
						per[0]++
					}
				case d := <-b.got:
					if d.payload == "end" {
						ended[1] = true
					} else if d.payload != "probe" {
						seen[d.payload]++
						per[1]++
					}
				case <-round:
					break wait
				case <-timeout:
					t.Fatalf("the group got %d distinct messages of %d; ended %v", len(seen), n, ended)
				}
			}
		}
		for i := range n {
			if k := seen[fmt.Sprint(i)]; k != 1 {
				t.Fatalf("message %d reached the group %d times, want once", i, k)
			}
		}
		if per[0] == 0 || per[1] == 0 {
			t.Fatalf("members got %v messages: the group was not split over the two nodes", per)
		}
		t.Logf("node 2's member got %d, node 3's %d", per[0], per[1])
	})

	t.Run("TakeoverAcrossNodes", func(t *testing.T) {
		first := mustConnect(t, f.tlsDialer(n2, brokerHost), toks[11])
		second := mustConnect(t, f.tlsDialer(n3, brokerHost), toks[11])
		first.expectDisconnect(t, "the client id's connection on node 2", 0x8E)
		second.subscribe(t, "still/here") // the new connection stays
	})

	t.Run("RevocationOnEveryNode", func(t *testing.T) {
		on2 := mustConnect(t, f.tlsDialer(n2, brokerHost), toks[12])
		on3 := mustConnect(t, f.tlsDialer(n3, brokerHost), toks[13])
		f.call(t, "POST", "/namespaces/my-namespace/brokers/example-broker/revocations?jti="+jtiOf(t, toks[12])+","+jtiOf(t, toks[13]), "", nil)
		on2.expectDisconnect(t, "revoked client on node 2", 0x87)
		on3.expectDisconnect(t, "revoked client on node 3", 0x87)
		// Every node refuses the token from now on (node 1's feed may be
		// a moment behind the others').
		for _, n := range f.nodes {
			deadline := time.Now().Add(fleetWait)
			for {
				c, ack, err := connect(f.tlsDialer(n, brokerHost), toks[12])
				if c != nil {
					_ = c.Disconnect(&paho.Disconnect{})
				}
				if ack != nil && ack.ReasonCode == 0x87 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a revoked token on node %d: CONNACK %+v, %v; want 0x87", n.k, ack, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	})

	t.Run("BrokersIsolated", func(t *testing.T) {
		// other-broker's subscribers, there since the start, got none of
		// example-broker's messages: their first message is its own.
		pub := mustConnect(t, f.tlsDialer(n1, otherHost), other[2])
		probe(t, func() { pub.publish(t, "room/1", "probe", false) }, otherSubs...)
		pub.publish(t, "room/1", "other's", false)
		for i, ch := range otherSubs {
			expectInOrder(t, fmt.Sprintf("other-broker on node %d", i+2), ch, []string{"other's"})
		}
		// And example-broker's subscribers got nothing of other-broker's:
		// their next message is example-broker's own, published after.
		own := mustConnect(t, f.tlsDialer(n1, brokerHost), toks[6])
		own.publish(t, "room/1", "own", false)
		for i, ch := range subs {
			expectInOrder(t, names[i], ch, []string{"own"})
		}
	})

	t.Run("RetainedOutlivesNode1", func(t *testing.T) {
		pub := mustConnect(t, f.tlsDialer(n1, brokerHost), toks[14])
		pub.publish(t, "state/door", "open", true)
		expectRetained := func(n *nodeProc, tok string) {
			t.Helper()
			// Node n mirrors the fleet's retained messages: wait until its
			// copy is there, then a new subscriber must get it.
			deadline := time.Now().Add(fleetWait)
			for !n.hasRetained(t, brokerHost, tok, "state/door") {
				if time.Now().After(deadline) {
					t.Fatalf("node %d never had the retained message", n.k)
				}
				time.Sleep(20 * time.Millisecond)
			}
			c := mustConnect(t, f.tlsDialer(n, brokerHost), tok)
			c.subscribe(t, "state/+")
			select {
			case d := <-c.got:
				if d.topic != "state/door" || d.payload != "open" || !d.retain {
					t.Fatalf("node %d: got %+v, want the retained message", n.k, d)
				}
			case <-time.After(fleetWait):
				t.Fatalf("node %d: the new subscriber got no retained message", n.k)
			}
			_ = c.Disconnect(&paho.Disconnect{})
		}
		expectRetained(n3, toks[15])
		_ = n1.cmd.Process.Kill() // kill -9
		_ = n1.cmd.Wait()
		expectRetained(n3, toks[16])
		expectRetained(n2, toks[17])
	})

	t.Run("NATSLostAndBack", func(t *testing.T) {
		for i := range f.nats.procs {
			f.nats.kill(t, i)
		}
		for _, n := range []*nodeProc{n2, n3} {
			pollHTTP(t, fmt.Sprintf("node %d without NATS", n.k), "http://"+n.ops+"/readyz", "nats: disconnected")
		}
		// Node 2 serves its own clients meanwhile; this subscription
		// reaches NATS once it is back.
		sub := mustConnect(t, f.tlsDialer(n2, brokerHost), toks[18])
		sub.subscribe(t, "back/#")
		local := mustConnect(t, f.tlsDialer(n2, brokerHost), toks[19])
		local.publish(t, "back/1", "local", false)
		expectInOrder(t, "node 2's subscriber while NATS is down", sub.got, []string{"local"})

		for i := range f.nats.procs {
			f.nats.start(t, i)
		}
		for _, n := range []*nodeProc{n2, n3} {
			pollHTTP(t, fmt.Sprintf("node %d with NATS back", n.k), "http://"+n.ops+"/readyz", "nats: connected")
		}
		// Across nodes again, both ways: node 3 to node 2's subscriber,
		// and node 2 to the subscribers on node 3 from the start.
		pub3 := mustConnect(t, f.tlsDialer(n3, brokerHost), toks[15])
		probe(t, func() { pub3.publish(t, "back/1", "probe", false) }, sub.got)
		pub3.publish(t, "back/1", "from node 3", false)
		expectInOrder(t, "node 2's subscriber", sub.got, []string{"from node 3"})
		probe(t, func() { local.publish(t, "room/1", "probe", false) }, subs[3:]...)
		local.publish(t, "room/1", "from node 2", false)
		for i := 3; i < len(subs); i++ {
			expectInOrder(t, names[i], subs[i], []string{"from node 2"})
		}
		if v := n2.metric(t, "pubsub_fleet_reconnects_total"); v < 1 {
			t.Fatalf("node 2's pubsub_fleet_reconnects_total = %d, want at least 1", v)
		}
	})
	t.Logf("whole test: %v", time.Since(start))
}

// hasRetained reports whether node n lists topic in GET /retained.
func (n *nodeProc) hasRetained(t *testing.T, host, tok, topic string) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+host+"/retained?topic="+url.QueryEscape(topic), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := n.web.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var env struct {
		Result struct {
			Messages []struct {
				Topic string `json:"topic"`
			} `json:"messages"`
		} `json:"result"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&env) != nil {
		return false
	}
	return len(env.Result.Messages) == 1 && env.Result.Messages[0].Topic == topic
}

// metric reads one sample without labels from node n's /metrics.
func (n *nodeProc) metric(t *testing.T, name string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + n.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == name {
			var x int64
			fmt.Sscan(v, &x)
			return x
		}
	}
	t.Fatalf("node %d has no metric %s", n.k, name)
	return 0
}
