package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/internal/app"
)

// dialNode connects to node k (0-based) of the dev stack, retrying while
// that node has not yet received the broker from the config feed.
func dialNode(t *testing.T, d *app.Dev, k int, tok string) *mqttClient {
	t.Helper()
	pem, err := os.ReadFile(d.CA.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.Dial("tcp", d.Nodes[k].MQTTAddrs()[0].String(), &tls.Config{ServerName: brokerHost, RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		c := &mqttClient{msgs: make(chan *paho.Publish, 64), disc: make(chan *paho.Disconnect, 1)}
		c.Client = paho.NewClient(paho.ClientConfig{
			Conn: pahoConn(conn),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				c.msgs <- pr.Packet
				return true, nil
			}},
			OnServerDisconnect: func(dc *paho.Disconnect) { c.disc <- dc },
		})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = c.Connect(ctx, &paho.Connect{KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true})
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect to node %d: %v", k+1, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDevNodes runs `pubsub dev --nodes 2`: a message published on node 1
// reaches a subscriber on node 2 through the embedded NATS.
func TestDevNodes(t *testing.T) {
	d, err := app.StartDev(context.Background(), app.DevConfig{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Domain: "pubsub.localhost", Nodes: 2,
		MQTTAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if len(d.Nodes) != 2 || d.Nodes[0] != d.Node {
		t.Fatalf("%d nodes, want 2 with the first as Node", len(d.Nodes))
	}
	creds := setupBroker(t, d, 2)
	var toks []string
	for _, tok := range creds {
		toks = append(toks, tok)
	}
	sub := dialNode(t, d, 1, toks[0])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/up", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub := dialNode(t, d, 0, toks[1])
	// Node 2's interest reaches NATS just after its SUBACK: publish until
	// it arrives.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "devices/one/up", QoS: 1, Payload: []byte("from node 1")}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-sub.msgs:
			if m.Topic != "devices/one/up" || string(m.Payload) != "from node 1" {
				t.Fatalf("got %q on %s", m.Payload, m.Topic)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("node 2 never got node 1's message")
		}
	}
}
