package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/openpubsub/pubsub/internal/app"
)

// setupBroker creates my-namespace/example-broker with the guide's curl
// commands and returns n freshly minted tokens (client id -> token).
func setupBroker(t *testing.T, d *app.Dev, n int) map[string]string {
	t.Helper()
	shell(t, d, guideStep3)
	shell(t, d, guideStep4)
	return mintTokens(t, d, n)
}

// mintTokens mints n tokens of my-namespace/example-broker (client id ->
// token).
func mintTokens(t *testing.T, d *app.Dev, n int) map[string]string {
	t.Helper()
	var creds map[string]string
	decode(t, shell(t, d, fmt.Sprintf(`curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/credentials?number=%d"`, n)), &creds)
	return creds
}

// waitLine reads lines until one contains want, or fails after timeout.
func waitLine(t *testing.T, lines <-chan string, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before a line with %q", want)
			}
			if strings.Contains(l, want) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %q within %v", want, timeout)
		}
	}
}

// startProcess starts cmd and streams its combined output line by line. The
// process is killed when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			t.Logf("%s: %s", filepath.Base(cmd.Path), sc.Text())
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return lines
}

// TestGuideMQTTJS runs the guide's step 6: the BROKER_TOKEN comes from the
// guide's own jq call (without -r, so it keeps its double quotes), and the
// guide's index.js with MQTT.js receives its own message over mqtts on the
// node's second listener (8443 in production).
func TestGuideMQTTJS(t *testing.T) {
	requireTool(t, "jq")
	requireNodeModules(t)
	d := startDev(t, t.TempDir())
	shell(t, d, guideStep3)
	shell(t, d, guideStep4)

	// The guide's index.js, with the port of the 8443 listener of this run.
	src, err := os.ReadFile("guide/index.js")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(d.Node.MQTTAddrs()[1].String(), "127.0.0.1:")
	index := filepath.Join(t.TempDir(), "index.js")
	if err := os.WriteFile(index, []byte(strings.Replace(string(src), "port: 8443,", "port: "+port+",", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	script := `export DEFAULT_NAMESPACE="my-namespace"
export BROKER_NAME="example-broker"
export BROKER_TOKEN=$(curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/${DEFAULT_NAMESPACE}/brokers/${BROKER_NAME}/credentials?number=2&type=TOKEN&topicAcl=#" | jq '.result | to_entries | .[0].value')
case "$BROKER_TOKEN" in \"*\") ;; *) echo "expected a quoted token" >&2; exit 1;; esac
export NODE_EXTRA_CA_CERTS="$PUBSUB_CA_FILE"
exec node ` + index
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", "source "+d.EnvFile+"\n"+script)
	cmd.Env = append(os.Environ(),
		"NODE_PATH="+filepath.Join(wd, "node_modules"),
		"NODE_OPTIONS=--require "+filepath.Join(wd, "resolve-localhost.cjs"))
	line := waitLine(t, startProcess(t, cmd), "received message on example-topic: message from ", 20*time.Second)
	if !strings.Contains(line, ": hello at ") {
		t.Fatalf("unexpected message: %q", line)
	}
}

// TestMosquittoClients exchanges a message between Debian's mosquitto_sub
// and mosquitto_pub on the 8883 listener. They connect to 127.0.0.1, so
// they send no SNI and the node routes them by their tokens' audience.
func TestMosquittoClients(t *testing.T) {
	requireTool(t, "mosquitto_sub")
	requireTool(t, "mosquitto_pub")
	d := startDev(t, t.TempDir())
	creds := setupBroker(t, d, 2)
	var toks []string
	for _, tok := range creds {
		toks = append(toks, tok)
	}
	port := strings.TrimPrefix(d.Node.MQTTAddrs()[0].String(), "127.0.0.1:")
	common := []string{"-V", "mqttv5", "--cafile", d.CA.CAFile(), "-h", "127.0.0.1", "-p", port, "-u", "anything", "-t", "devices/one/up"}
	// stdbuf: mosquitto_sub buffers its output when it is not a terminal.
	sub := exec.Command("stdbuf", append([]string{"-oL", "mosquitto_sub"}, append(common, "-d", "-C", "1", "-P", toks[0])...)...)
	lines := startProcess(t, sub)
	waitLine(t, lines, "received SUBACK", 10*time.Second)
	pub := exec.Command("mosquitto_pub", append(common, "-P", toks[1], "-m", "hello from mosquitto_pub")...)
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	waitLine(t, lines, "hello from mosquitto_pub", 10*time.Second)
}

// mqttClient is a paho.golang client over TLS to the dev node, by hostname.
type mqttClient struct {
	*paho.Client
	msgs chan *paho.Publish
	disc chan *paho.Disconnect
}

func dialBroker(t *testing.T, d *app.Dev, host, tok string) (*mqttClient, *paho.Connack, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", d.Node.MQTTAddrs()[0].String(), &tls.Config{ServerName: host, RootCAs: devCAPool(t, d)})
	if err != nil {
		return nil, nil, err
	}
	return pahoSession(t, conn, tok)
}

// devCAPool is a pool holding the dev stack's CA.
func devCAPool(t *testing.T, d *app.Dev) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// pahoSession runs an MQTT session with tok over conn.
func pahoSession(t *testing.T, conn net.Conn, tok string) (*mqttClient, *paho.Connack, error) {
	t.Helper()
	c := &mqttClient{msgs: make(chan *paho.Publish, 16), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: pahoConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(dc *paho.Disconnect) { c.disc <- dc },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true})
	if err == nil {
		t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	}
	return c, ca, err
}

// dialBrokerWS is dialBroker over WebSocket: MQTT at wss://host/mqtt on
// the dev node's HTTPS listener, as MQTT.js and browsers connect.
func dialBrokerWS(t *testing.T, d *app.Dev, host, tok string) (*mqttClient, *paho.Connack, error) {
	t.Helper()
	addr := d.Node.HTTPSAddrs()[0].String()
	dialer := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:  &tls.Config{RootCAs: devCAPool(t, d)},
		HandshakeTimeout: 10 * time.Second,
		Subprotocols:     []string{"mqtt"},
	}
	ws, _, err := dialer.Dial("wss://"+host+"/mqtt", nil)
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(func() { ws.Close() })
	return pahoSession(t, &wsConn{Conn: ws}, tok)
}

// wsConn is a client WebSocket as the net.Conn paho reads and writes:
// each write one binary message, reads across message boundaries.
type wsConn struct {
	*websocket.Conn
	r  io.Reader
	mu sync.Mutex // one writer at a time
	// pk is held by paho across the writes of one packet (it locks a
	// conn that is a sync.Locker), so that no other write comes between
	// a packet's header and its body.
	pk sync.Mutex
}

func (c *wsConn) Lock()   { c.pk.Lock() }
func (c *wsConn) Unlock() { c.pk.Unlock() }

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(p), c.WriteMessage(websocket.BinaryMessage, p)
}

func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// jtiOf returns the jti claim of a token, without verifying it.
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	var claims struct {
		JTI string `json:"jti"`
	}
	parts := strings.Split(tok, ".")
	raw, err := decodeSegment(parts[1])
	if err != nil || json.Unmarshal(raw, &claims) != nil {
		t.Fatalf("token payload: %v", err)
	}
	return claims.JTI
}

const brokerHost = "example-broker.my-namespace.pubsub.localhost"

// TestRevocationDisconnects revokes the jti of a connected client over the
// API: the client gets DISCONNECT 0x87 in under a second, and cannot
// connect again.
func TestRevocationDisconnects(t *testing.T) {
	d := startDev(t, t.TempDir())
	creds := setupBroker(t, d, 1)
	var tok string
	for _, v := range creds {
		tok = v
	}
	c, _, err := dialBroker(t, d, brokerHost, tok)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	shell(t, d, `curl -s -X POST -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces/my-namespace/brokers/example-broker/revocations?jti=`+jtiOf(t, tok)+`"`)
	select {
	case dc := <-c.disc:
		delay := time.Since(start)
		t.Logf("revocation to DISCONNECT: %v", delay)
		if dc.ReasonCode != 0x87 {
			t.Fatalf("DISCONNECT reason 0x%02x, want 0x87", dc.ReasonCode)
		}
		if delay >= time.Second {
			t.Fatalf("the revoked client was disconnected after %v; the limit is 1 s", delay)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked client was not disconnected")
	}
	_, ca, err := dialBroker(t, d, brokerHost, tok)
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Fatalf("reconnecting with a revoked token: connack %+v, err %v; want 0x87", ca, err)
	}
}

// TestControlPlaneDown stops the control plane: the node keeps serving old
// and new clients from its cache, and a change made while it was cut off
// (here, a revocation on a control plane started again on the same data)
// reaches it once the feed is back.
func TestControlPlaneDown(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, dir)
	creds := setupBroker(t, d, 2)
	var toks []string
	for _, tok := range creds {
		toks = append(toks, tok)
	}
	first, _, err := dialBroker(t, d, brokerHost, toks[0])
	if err != nil {
		t.Fatal(err)
	}
	addr := d.ControlPlane.Addr()
	if err := d.ControlPlane.Close(); err != nil {
		t.Fatal(err)
	}

	second, _, err := dialBroker(t, d, brokerHost, toks[1])
	if err != nil {
		t.Fatalf("a new client while the control plane is down: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := second.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("still up")}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-second.msgs:
		if string(m.Payload) != "still up" {
			t.Fatalf("payload %q", m.Payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery while the control plane is down")
	}

	// The control plane comes back on the same address and data; the
	// revocation made there reaches the node, which disconnects the client.
	cp, err := app.StartControlPlane(context.Background(), app.ControlPlaneConfig{
		Addr: addr, Store: app.StoreConfig{DataDir: dir}, Domain: "pubsub.localhost", KEK: mustKEK(t, dir),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	acct := d.Env["CF_ACCOUNT_ID"]
	if err := cp.Service.Revoke(context.Background(), acct, "my-namespace", "example-broker", []string{jtiOf(t, toks[1])}); err != nil {
		t.Fatal(err)
	}
	select {
	case dc := <-second.disc:
		if dc.ReasonCode != 0x87 {
			t.Fatalf("DISCONNECT 0x%02x, want 0x87", dc.ReasonCode)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the revocation made while the node was cut off never arrived")
	}
}
