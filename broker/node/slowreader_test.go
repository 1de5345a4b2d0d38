package node_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker/node"
)

// TestSlowReader subscribes a client that never reads, then floods its
// topic: the node keeps delivering to a well-behaved subscriber of the same
// topic, drops what the slow one cannot take instead of queueing without
// bound, and keeps serving new clients.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxWritesPending: 64}, "a")
	a := e.brokers["a"]

	slow := e.dialRaw(a.host)
	tok, claims := a.token(t, nil)
	if ack := slow.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	slow.subscribe(t, "flood", 0)
	// From here on the slow client reads nothing.

	fast, _ := e.mustConnect("a")
	if _, err := fast.subscribe(t, "flood", 0); err != nil {
		t.Fatal(err)
	}
	// The fast subscriber reads everything as it comes.
	var got atomic.Int64
	marker := make(chan struct{})
	go func() {
		seen := false
		for m := range fast.msgs {
			got.Add(1)
			if !seen && strings.HasPrefix(string(m.Payload), "marker") {
				seen = true
				close(marker)
			}
		}
	}()
	pub, _ := e.mustConnect("a")
	payload := strings.Repeat("x", 16<<10) // 2,000 x 16 KiB: far more than socket buffers hold
	const n = 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := pub.publish(t, "flood", 0, fmt.Sprintf("%d:%s", i, payload)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// QoS 0 may drop under overload, so publish markers until one arrives:
	// the fast subscriber must not be stuck behind the slow one.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := pub.publish(t, "flood", 0, "marker"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-marker:
			t.Logf("fast subscriber got %d of %d flood messages, then the marker, in %v", got.Load(), n, time.Since(start))
			stillServes(t, e)
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fast subscriber stalled behind the slow one after %d messages", got.Load())
		}
	}
}
