package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
)

// TestRetainedReplayDeliversAll subscribes to more retained messages than
// a client's inflight limit and outbound queue hold: every one must
// arrive, QoS 1 ones within the client's Receive Maximum as it acks, QoS 0
// ones however full the queue is at SUBSCRIBE.
func TestRetainedReplayDeliversAll(t *testing.T) {
	t.Parallel()
	const n = 300
	e := newEnv(t, node.Limits{MaxInflight: 50, MaxWritesPending: 20}, "a")
	a := e.brokers["a"]
	pub, _ := e.mustConnect("a")
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		_, err := pub.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("r/%d", i), QoS: 1, Retain: true, Payload: []byte("x")})
		cancel()
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// mochi acks a QoS 1 publish before it fans it out: the ack of one
	// more publish from the same client says the last retained one has
	// been fanned out, so it cannot also reach the subscriber live.
	if _, err := pub.publish(t, "sync", 1, "sync"); err != nil {
		t.Fatal(err)
	}
	for _, qos := range []byte{0, 1} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			tok, claims := a.token(t, nil)
			r := e.dialRaw(a.host)
			r.connectV5With(t, claims.Subject, tok, receiveMaximum(10))
			if sa := r.subscribe(t, "r/#", qos); sa.Reasons[0] != qos {
				t.Fatalf("SUBACK %#x", sa.Reasons[0])
			}
			seen := map[string]bool{}
			for len(seen) < n {
				p, ok := r.read(t).Content.(*packets.Publish)
				if !ok {
					t.Fatalf("got %T after %d messages, want PUBLISH", p, len(seen))
				}
				if seen[p.Topic] {
					t.Fatalf("%s delivered twice", p.Topic)
				}
				seen[p.Topic] = true
				if p.QoS != qos || !p.Retain {
					t.Fatalf("%s: QoS %d retain %v, want QoS %d retained", p.Topic, p.QoS, p.Retain, qos)
				}
				if qos == 1 {
					r.puback(t, p.PacketID)
				}
			}
		})
	}
}
