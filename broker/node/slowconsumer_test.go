package node_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker/node"
)

// floodPayload is the size of the messages that fill a stuck
// subscriber's socket; floodCount of them are far more than loopback's
// socket buffers hold (a few MiB), so its writer blocks.
const (
	floodPayload = 60 << 10
	floodCount   = 400
)

// stuckSubscriber connects a raw client to the test broker id with a
// keep-alive of 60 s (a write deadline of 90 s before writes had their
// own), subscribes it to topic at QoS 1, and from then on reads nothing.
// It returns the connection, the client's token and its client id.
func stuckSubscriber(t testing.TB, e *env, id, topic string) (*rawConn, string, string) {
	t.Helper()
	b := e.brokers[id]
	r := e.dialRaw(b.host)
	tok, claims := b.token(t, nil)
	keepAlive := func(c *packets.Connect) { c.KeepAlive = 60 }
	if ack := r.connectV5With(t, claims.Subject, tok, keepAlive); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	if sa := r.subscribe(t, topic, 1); sa.Reasons[0] != 1 {
		t.Fatalf("SUBACK %#x", sa.Reasons[0])
	}
	return r, tok, claims.Subject
}

// flood publishes floodCount messages of floodPayload bytes to topic at
// qos; at QoS 1, each must be acknowledged within waitFor.
func flood(t testing.TB, pub *client, topic string, qos byte) {
	t.Helper()
	payload := strings.Repeat("x", floodPayload)
	for i := 0; i < floodCount; i++ {
		if _, err := pub.publish(t, topic, qos, payload); err != nil {
			t.Fatalf("publish %d of %d: %v: the publisher waits on a subscriber that does not read", i+1, floodCount, err)
		}
	}
}

// TestStuckSubscriberDoesNotStallPublishers subscribes a client that
// never reads next to one that does, and floods their topic at QoS 1:
// every publish is acknowledged at once, the reading subscriber gets
// every message, another broker's traffic goes on, and the stuck client
// is disconnected once its socket has stayed unwritable for the write
// timeout, and counted.
func TestStuckSubscriberDoesNotStallPublishers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{WriteTimeout: 3 * time.Second, MaxInflight: 1024}, "a", "b")
	stuck, _, _ := stuckSubscriber(t, e, "a", "flood")

	good, _ := e.mustConnect("a")
	if _, err := good.subscribe(t, "flood", 1); err != nil {
		t.Fatal(err)
	}
	var got atomic.Int64
	go func() {
		for range good.msgs {
			got.Add(1)
		}
	}()
	pub, _ := e.mustConnect("a")
	flood(t, pub, "flood", 1)
	eventually(t, "every message at the reading subscriber", func() bool { return got.Load() == floodCount })

	// Another broker's clients are served meanwhile.
	otherSub, _ := e.mustConnect("b")
	if _, err := otherSub.subscribe(t, "t", 1); err != nil {
		t.Fatal(err)
	}
	otherPub, _ := e.mustConnect("b")
	if _, err := otherPub.publish(t, "t", 1, "other broker"); err != nil {
		t.Fatal(err)
	}
	otherSub.expectMessage(t, "t", "other broker")

	slow := fmt.Sprintf(`pubsub_slow_consumers_total{broker="%s"}`, e.brokers["a"].host)
	eventually(t, "the stuck subscriber counted as a slow consumer", func() bool { return e.metric(slow) == 1 })
	_ = stuck.SetDeadline(time.Now().Add(waitFor))
	readUntilClosed(t, stuck)
	if v := e.metric(fmt.Sprintf(`pubsub_slow_consumers_total{broker="%s"}`, e.brokers["b"].host)); v != 0 {
		t.Fatalf("broker b counted %d slow consumers, want 0", v)
	}
}

// TestStuckSubscriberTakeover takes over the client id of a subscriber
// whose socket is full, long before its write timeout: the new
// connection gets its CONNACK without waiting for the stuck writer, and
// the old connection is closed.
func TestStuckSubscriberTakeover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{WriteTimeout: time.Minute, MaxInflight: 1024}, "a")
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	})
	r, tok, clientID := stuckSubscriber(t, e, "a", "flood")
	pub, _ := e.mustConnect("a")
	// At QoS 0, so that the publisher does not wait on the stuck client
	// even without the fix, and only the takeover is tested here.
	flood(t, pub, "flood", 0)

	again, ca, err := e.connect(e.brokers["a"].host, clientID, tok, nil)
	if err != nil {
		t.Fatalf("taking over the stuck client's id: %v (CONNACK %+v)", err, ca)
	}
	_ = r.SetDeadline(time.Now().Add(waitFor))
	readUntilClosed(t, r)
	if _, err := again.subscribe(t, "after", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.publish(t, "after", 1, "taken over"); err != nil {
		t.Fatal(err)
	}
	again.expectMessage(t, "after", "taken over")
}
