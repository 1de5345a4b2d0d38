package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker/certs"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// fleet is a control plane with one broker, a token of it, and what its
// nodes need.
type fleet struct {
	t         *testing.T
	cp        *app.ControlPlane
	ca        *certs.DevCA
	roots     *x509.CertPool
	nodeToken string
	host      string
	clientID  string
	token     string
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	ctx := t.Context()
	cp, err := app.StartControlPlane(ctx, app.ControlPlaneConfig{
		Addr: "127.0.0.1:0", Store: app.StoreConfig{DataDir: t.TempDir()}, Domain: "pubsub.test", KEK: testenv.KEK,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	svc := cp.Service
	na, err := svc.CreateAccount(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateNamespace(ctx, na.Account.ID, "ns", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateBroker(ctx, na.Account.ID, "ns", controlplane.BrokerInput{Name: "one"}); err != nil {
		t.Fatal(err)
	}
	minted, err := svc.MintCredentials(ctx, na.Account.ID, "ns", "one", controlplane.MintRequest{})
	if err != nil {
		t.Fatal(err)
	}
	nodeToken, err := svc.CreateNodeToken(ctx, "node")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.OpenDevCA(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return &fleet{t: t, cp: cp, ca: ca, roots: roots, nodeToken: nodeToken, host: "one.ns.pubsub.test", clientID: minted[0].ClientID, token: minted[0].Token}
}

// startNode starts a node of the fleet with its data (and config cache)
// in dir.
func (f *fleet) startNode(dir string) *app.Node {
	f.t.Helper()
	n, err := app.StartNode(f.t.Context(), app.NodeConfig{
		ControlPlaneURL: "http://" + f.cp.Addr(), NodeToken: f.nodeToken, DataDir: dir,
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0", Certs: f.ca,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { n.Close() })
	return n
}

// caughtUp waits until every node has applied the control plane's latest
// revision, ticket keys included.
func (f *fleet) caughtUp(nodes ...*app.Node) {
	f.t.Helper()
	want, err := f.cp.Service.Store().LatestRevision(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	for _, n := range nodes {
		deadline := time.Now().Add(5 * time.Second)
		for metric(f.t, n, "pubsub_node_config_revision") < want {
			if time.Now().After(deadline) {
				f.t.Fatalf("node at revision %d, want %d", metric(f.t, n, "pubsub_node_config_revision"), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// metric reads one sample of a node's /metrics; -1 when absent.
func metric(t *testing.T, n *app.Node, sample string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + n.OpsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if name, val, ok := strings.Cut(line, " "); ok && name == sample {
			var v int64
			fmt.Sscan(val, &v)
			return v
		}
	}
	return -1
}

// connect opens an MQTT session on node n with the client's TLS session
// cache and reports whether TLS resumed. Reading the CONNACK reads the
// ticket the node sends after the handshake too.
func (f *fleet) connect(n *app.Node, cache tls.ClientSessionCache) bool {
	f.t.Helper()
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.MQTTAddrs()[0].String(),
		&tls.Config{ServerName: f.host, RootCAs: f.roots, ClientSessionCache: cache})
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	cp := packets.NewControlPacket(packets.CONNECT)
	c := cp.Content.(*packets.Connect)
	c.ProtocolName, c.ProtocolVersion, c.ClientID, c.KeepAlive, c.CleanStart = "MQTT", 5, f.clientID, 30, true
	c.Password, c.PasswordFlag = []byte(f.token), true
	if _, err := cp.WriteTo(tc); err != nil {
		f.t.Fatalf("write CONNECT: %v", err)
	}
	p, err := packets.ReadPacket(tc)
	if err != nil {
		f.t.Fatalf("read CONNACK: %v", err)
	}
	if ack, ok := p.Content.(*packets.Connack); !ok || ack.ReasonCode != packets.ConnackSuccess {
		f.t.Fatalf("got %+v, want a successful CONNACK", p.Content)
	}
	return tc.ConnectionState().DidResume
}

// TestTicketKeysAcrossFleet checks TLS session resumption across the
// nodes of a fleet fed by one control plane: a client resumes on another
// node and on a restarted one, still after a rotation, and falls back to
// a full handshake once its ticket's key is past the ticket lifetime.
func TestTicketKeysAcrossFleet(t *testing.T) {
	f := newFleet(t)
	ctx := t.Context()
	svc := f.cp.Service
	now := f.firstKey().CreatedOn
	a := f.startNode(t.TempDir())
	dirB := t.TempDir()
	b := f.startNode(dirB)
	f.caughtUp(a, b)
	if got := metric(t, a, "pubsub_node_tls_ticket_keys"); got != 1 {
		t.Fatalf("node a has %d ticket keys, want 1", got)
	}
	cache := tls.NewLRUClientSessionCache(4)

	// rotate makes the control plane rotate as if at time at.
	rotate := func(at time.Time) {
		t.Helper()
		if made, err := svc.RotateTicketKeys(ctx, at); err != nil || !made {
			t.Fatalf("RotateTicketKeys = %v, %v; want a new key", made, err)
		}
	}
	later := now.Add(controlplane.DefaultTicketKeyRotation + time.Minute)
	for _, step := range []struct {
		name   string
		before func() // then every node catches up
		on     **app.Node
		resume bool
	}{
		{name: "FullOnFirstConnect", on: &a},
		{name: "ResumedOnOtherNode", on: &b, resume: true},
		{name: "ResumedOnRestartedNode", before: func() {
			b.Close()
			b = f.startNode(dirB)
		}, on: &b, resume: true},
		{name: "ResumedAfterRotation", before: func() { rotate(later) }, on: &a, resume: true},
		{name: "FullPastTheTicketLifetime", before: func() {
			// The key of the client's ticket stops encrypting, then
			// stays a ticket lifetime more.
			next := later.Add(controlplane.DefaultTicketKeyRotation)
			rotate(next)
			rotate(next.Add(controlplane.DefaultTicketKeyRotation + controlplane.DefaultTicketLifetime))
		}, on: &b},
		{name: "ResumedWithTheNewKey", on: &a, resume: true},
	} {
		if step.before != nil {
			step.before()
		}
		f.caughtUp(a, b)
		if got := f.connect(*step.on, cache); got != step.resume {
			t.Fatalf("%s: DidResume = %v, want %v", step.name, got, step.resume)
		}
	}
	if got := metric(t, a, "pubsub_node_tls_ticket_keys"); got != 2 {
		t.Fatalf("node a has %d ticket keys after the expiry, want 2", got)
	}
}

// firstKey waits for the ticket key the control plane makes as it starts,
// and returns it.
func (f *fleet) firstKey() *controlplane.TicketKey {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		keys, err := f.cp.Service.Store().ListTicketKeys(f.t.Context())
		if err != nil {
			f.t.Fatal(err)
		}
		if len(keys) > 0 {
			return keys[len(keys)-1]
		}
		if time.Now().After(deadline) {
			f.t.Fatal("the control plane made no TLS ticket key as it started")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTicketKeysRotation checks the control plane's schedule: a key as it
// starts, none more within a rotation interval, then one each interval,
// and a key deleted a ticket lifetime after the next one was made.
func TestTicketKeysRotation(t *testing.T) {
	f := newFleet(t)
	ctx := t.Context()
	svc := f.cp.Service
	start := f.firstKey().CreatedOn
	rot, life := controlplane.DefaultTicketKeyRotation, controlplane.DefaultTicketLifetime
	for _, step := range []struct {
		name string
		at   time.Time
		made bool
		keys int
	}{
		{"NoneWithinTheInterval", start.Add(rot - time.Second), false, 1},
		{"OneEachInterval", start.Add(rot), true, 2},
		{"KeptForTheLifetime", start.Add(rot + life), true, 3},
		{"DeletedPastIt", start.Add(rot + life + time.Second), false, 2},
	} {
		made, err := svc.RotateTicketKeys(ctx, step.at)
		if err != nil || made != step.made {
			t.Fatalf("%s: RotateTicketKeys = %v, %v; want %v", step.name, made, err, step.made)
		}
		keys, err := svc.Store().ListTicketKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != step.keys {
			t.Fatalf("%s: %d keys, want %d", step.name, len(keys), step.keys)
		}
	}
}
