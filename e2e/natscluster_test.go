package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/internal/app"
)

// natsCluster is three real nats-server processes, built from the module
// go.mod pins, routed to each other on loopback, with JetStream.
type natsCluster struct {
	urls  []string
	bin   string
	args  [][]string // each server's command line, to start it again
	procs []*exec.Cmd
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	dir := t.TempDir()
	c := &natsCluster{bin: filepath.Join(dir, "nats-server")}
	build := exec.Command("go", "build", "-o", c.bin, "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	var routes []string
	ports := make([][2]int, 3)
	for i := range ports {
		ports[i] = [2]int{freePort(t), freePort(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i][1]))
	}
	c.procs = make([]*exec.Cmd, len(ports))
	t.Cleanup(func() {
		for i := range c.procs {
			c.kill(t, i)
		}
	})
	for i, p := range ports {
		c.args = append(c.args, []string{"-a", "127.0.0.1", "-p", fmt.Sprint(p[0]), "-n", fmt.Sprintf("nats-%d", i+1),
			"--cluster_name", "e2e", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", p[1]), "--routes", strings.Join(routes, ","),
			"-js", "-sd", filepath.Join(dir, fmt.Sprint("store", i))})
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", p[0]))
		c.start(t, i)
	}
	c.waitJetStream(t)
	return c
}

// start runs server i, again after kill: same ports, same store.
func (c *natsCluster) start(t *testing.T, i int) {
	t.Helper()
	cmd := exec.Command(c.bin, c.args[i]...)
	if os.Getenv("PUBSUB_E2E_NATS_LOGS") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.procs[i] = cmd
}

// waitJetStream waits until JetStream answers, which needs a meta leader.
func (c *natsCluster) waitJetStream(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !c.jetStreamAnswers() {
		if time.Now().After(deadline) {
			t.Fatal("the NATS cluster's JetStream never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *natsCluster) jetStreamAnswers() bool {
	nc, err := nats.Connect(strings.Join(c.urls, ","), nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// kill stops server i as kill -9 would; a server already stopped stays so.
func (c *natsCluster) kill(t *testing.T, i int) {
	t.Helper()
	if c.procs[i] == nil {
		return
	}
	_ = c.procs[i].Process.Kill()
	_ = c.procs[i].Wait()
	c.procs[i] = nil
}

// expectPayload waits for a message with payload, skipping others.
func expectPayload(t *testing.T, c *mqttClient, payload string) *paho.Publish {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if string(m.Payload) == payload {
				return m
			}
		case <-timeout:
			t.Fatalf("no message %q", payload)
			return nil
		}
	}
}

// TestFleetOnRealNATSCluster runs three nodes of the dev stack joined by a
// three-server cluster of the real nats-server binary: messages cross in
// order, a retained message published on node 1 reaches a new subscriber
// on node 3 after node 1 is gone and one NATS server is killed, and a
// client id moves from one node to another.
func TestFleetOnRealNATSCluster(t *testing.T) {
	nc := startNATSCluster(t)
	d, err := app.StartDev(context.Background(), app.DevConfig{
		DataDir: t.TempDir(), Addr: "127.0.0.1:0", Domain: "pubsub.localhost", Nodes: 3, NATSURL: strings.Join(nc.urls, ","),
		MQTTAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	creds := setupBroker(t, d, 6)
	var toks []string
	for _, tok := range creds {
		toks = append(toks, tok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	subs := []*mqttClient{dialNode(t, d, 1, toks[0]), dialNode(t, d, 2, toks[1])}
	for _, s := range subs {
		if _, err := s.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "room/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	pub := dialNode(t, d, 0, toks[2])
	// Interest reaches the other servers just after the SUBACKs: publish
	// probes until both subscribers have one.
	for _, s := range subs {
		deadline := time.Now().Add(10 * time.Second)
		for got := false; !got; {
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "room/probe", QoS: 1, Payload: []byte("probe")}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.msgs:
				got = true
			case <-time.After(50 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatal("no probe crossed")
				}
			}
		}
	}
	for i := range 50 {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "room/1", QoS: 1, Payload: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for k, s := range subs {
		expectPayload(t, s, "m0")
		for i := 1; i < 50; i++ {
			m := <-s.msgs
			if want := fmt.Sprintf("m%d", i); string(m.Payload) != want {
				t.Fatalf("node %d: got %q, want %q: out of order", k+2, m.Payload, want)
			}
		}
	}

	// A retained message outlives its node and a NATS server (R3).
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "state/door", QoS: 1, Retain: true, Payload: []byte("open")}); err != nil {
		t.Fatal(err)
	}
	d.Nodes[0].Close()
	nc.kill(t, 1)
	deadline := time.Now().Add(15 * time.Second)
	for {
		late := dialNode(t, d, 2, toks[3])
		if _, err := late.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "state/+", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-late.msgs:
			if string(m.Payload) != "open" || !m.Retain {
				t.Fatalf("got %+v, want the retained message", m)
			}
		case <-time.After(200 * time.Millisecond):
			late.Disconnect(&paho.Disconnect{})
			if time.Now().After(deadline) {
				t.Fatal("the retained message never reached node 3")
			}
			continue
		}
		break
	}

	// One client id, one connection: from node 2 to node 3.
	first := dialNode(t, d, 1, toks[4])
	dialNode(t, d, 2, toks[4])
	select {
	case dc := <-first.disc:
		if dc.ReasonCode != 0x8E {
			t.Fatalf("DISCONNECT %#x, want 0x8E (session taken over)", dc.ReasonCode)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first connection of the client id was not ended")
	}
}
