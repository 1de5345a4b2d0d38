package node_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/openpubsub/pubsub/broker/node"
)

// goroutinesIn counts the goroutines whose stack has fn in it.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte(fn)) {
			count++
		}
	}
	return count
}

const (
	// A session reading on its own goroutine, and one waiting for its
	// socket on a goroutine of its own, which the fork's idle poller
	// replaced (see its ServeConnection).
	inRead    = "mochi-mqtt/server/v2.(*Client).Read("
	inWaiting = "mochi-mqtt/server/v2.waitReadable("
)

// TestIdleSessionsHandOverTheirWait: sessions that have sent nothing for
// IdleLinger (50 ms in these tests) are parked in the fork's idle poller,
// with no goroutine of their own, instead of waiting in a read, and still
// receive, publish and ping as before, going idle again after each wake.
func TestIdleSessionsHandOverTheirWait(t *testing.T) {
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	watcher, _ := e.mustConnect("a")
	if _, err := watcher.subscribe(t, "idle/back", 0); err != nil {
		t.Fatal(err)
	}
	const n = 20
	subs := make([]*rawConn, n)
	for i := range subs {
		tok, claims := a.token(t, nil)
		r := e.dialRaw(a.host)
		if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		if sa := r.subscribe(t, "idle/out", 0); sa.Reasons[0] != 0 {
			t.Fatalf("SUBACK %#x", sa.Reasons[0])
		}
		subs[i] = r
	}
	allIdle := func(what string) {
		t.Helper()
		eventually(t, what, func() bool { return mqtt.IdleSessions() >= n })
		// Parked in the fork's idle poller: no goroutine waits for them.
		if waiting := goroutinesIn(inWaiting); waiting > 0 {
			t.Fatalf("%d goroutines wait for idle sessions", waiting)
		}
	}
	allIdle("the idle sessions to hand over their waits")

	// Deliveries to idle sessions: the writer wakes, the wait goes on.
	pub, _ := e.mustConnect("a")
	if _, err := pub.publish(t, "idle/out", 0, "to the idle"); err != nil {
		t.Fatal(err)
	}
	for i, r := range subs {
		p, ok := r.read(t).Content.(*packets.Publish)
		if !ok || p.Topic != "idle/out" || string(p.Payload) != "to the idle" {
			t.Fatalf("subscriber %d got %+v", i, p)
		}
	}

	// Packets from idle sessions: the waiter serves each session on.
	for i, r := range subs {
		pp := packets.NewControlPacket(packets.PUBLISH)
		pp.Content.(*packets.Publish).Topic = "idle/back"
		pp.Content.(*packets.Publish).Payload = []byte(fmt.Sprint(i))
		if _, err := pp.WriteTo(r); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for range n {
		select {
		case m := <-watcher.msgs:
			got[string(m.Payload)] = true
		case <-time.After(waitFor):
			t.Fatalf("got %d of %d publishes from idle sessions", len(got), n)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d distinct publishes, want %d", len(got), n)
	}

	allIdle("the sessions to go idle again")
	for i, r := range subs {
		if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(r); err != nil {
			t.Fatal(err)
		}
		if p := r.read(t); p.Type != packets.PINGRESP {
			t.Fatalf("subscriber %d: got %v, want PINGRESP", i, p)
		}
	}
	allIdle("the sessions to go idle after the ping")
	if reading := goroutinesIn(inRead); reading > 3 {
		// The watcher and the publisher may still be within their linger.
		t.Errorf("%d sessions still wait in a read", reading)
	}
}

// TestIdleSessionKeepAlive: a session whose wait was handed over still
// ends when its keep-alive passes, with its Will published.
func TestIdleSessionKeepAlive(t *testing.T) {
	e := newEnv(t, node.Limits{MinKeepAlive: 1}, "a")
	a := e.brokers["a"]
	watcher, _ := e.mustConnect("a")
	if _, err := watcher.subscribe(t, "idle/will", 0); err != nil {
		t.Fatal(err)
	}
	tok, claims := a.token(t, nil)
	r := e.dialRaw(a.host)
	ack := r.connectV5With(t, claims.Subject, tok, func(c *packets.Connect) {
		c.KeepAlive = 1
		c.WillFlag, c.WillTopic, c.WillMessage = true, "idle/will", []byte("gone quiet")
	})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	eventually(t, "the session to hand over its wait", func() bool { return mqtt.IdleSessions() == 1 })
	r.expectClosed(t, 0)
	watcher.expectMessage(t, "idle/will", "gone quiet")
}
