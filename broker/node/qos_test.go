package node_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
)

// TestQoS1SubscriberCatchesUp holds a QoS 1 subscriber with a small
// Receive Maximum far behind its publisher, then lets it acknowledge: it
// must get every message, in order, and never more unacknowledged at once
// than it allowed. (mochi v2.7.9 sent a held-back delivery but forgot it,
// so its PUBACK never freed the window and such a subscriber stalled.)
func TestQoS1SubscriberCatchesUp(t *testing.T) {
	t.Parallel()
	// 25 windows behind, within the node's MaxInflight (256): beyond that
	// the node drops QoS 1 deliveries for this subscriber rather than
	// hold them without bound.
	const window, n = 10, 250
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]

	sub := e.dialRaw(a.host)
	tok, claims := a.token(t, nil)
	if ack := sub.connectV5With(t, claims.Subject, tok, receiveMaximum(window)); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	if sa := sub.subscribe(t, "q/#", 1); sa.Reasons[0] != 1 {
		t.Fatalf("SUBACK %+v", sa)
	}

	pub, _ := e.mustConnect("a")
	for i := 0; i < n-window; i++ {
		if _, err := pub.publish(t, "q/data", 1, strconv.Itoa(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// A QoS 0 message is not flow-controlled, and the node writes in the
	// order it routed: if the window were overrun, an eleventh QoS 1
	// delivery would come before this marker.
	if _, err := pub.publish(t, "q/marker", 0, "marker"); err != nil {
		t.Fatal(err)
	}

	next, unacked := 0, []uint16{}
	readPublish := func() *packets.Publish {
		t.Helper()
		pk := sub.read(t)
		p, ok := pk.Content.(*packets.Publish)
		if !ok {
			t.Fatalf("got %T, want PUBLISH", pk.Content)
		}
		return p
	}
	expectNext := func(p *packets.Publish) {
		t.Helper()
		if p.Topic != "q/data" || string(p.Payload) != strconv.Itoa(next) || p.QoS != 1 {
			t.Fatalf("got %q on %q at QoS %d, want %d on q/data at QoS 1", p.Payload, p.Topic, p.QoS, next)
		}
		next++
		unacked = append(unacked, p.PacketID)
	}
	for len(unacked) < window {
		expectNext(readPublish())
	}
	if p := readPublish(); p.Topic != "q/marker" {
		t.Fatalf("got %q on %q with %d unacknowledged, want the QoS 0 marker: the node overran the Receive Maximum of %d", p.Payload, p.Topic, len(unacked), window)
	}

	// Publish the rest while the subscriber is still behind, then let it
	// acknowledge a window at a time.
	for i := n - window; i < n; i++ {
		if _, err := pub.publish(t, "q/data", 1, strconv.Itoa(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if d := e.metric(`pubsub_inflight_dropped_total{broker="` + a.host + `"}`); d != 0 {
		t.Fatalf("pubsub_inflight_dropped_total = %d, want 0 within MaxInflight", d)
	}
	for next < n {
		for _, id := range unacked {
			sub.puback(t, id)
		}
		unacked = unacked[:0]
		for len(unacked) < window && next < n {
			expectNext(readPublish())
		}
	}
}

// TestQoS1BothWaysOnOneConnection publishes and receives QoS 1 on the same
// connection, with many flows in flight each way. MQTT gives each direction
// its own packet identifiers, so the client's PUBLISH with id 5 must not
// touch the node's delivery with id 5 (mochi v2.7.9 deleted it, losing a
// unit of the client's window each time, until deliveries stopped).
func TestQoS1BothWaysOnOneConnection(t *testing.T) {
	t.Parallel()
	const n, publishers = 400, 8
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	tok, claims := a.token(t, nil)
	c, ca, err := e.connect(a.host, claims.Subject, tok, func(cp *paho.Connect) {
		rm := uint16(5)
		cp.Properties = &paho.ConnectProperties{ReceiveMaximum: &rm}
	})
	if err != nil {
		t.Fatalf("connect: %v (%+v)", err, ca)
	}
	if _, err := c.subscribe(t, "echo", 1); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, n)
	go func() {
		for m := range c.msgs {
			got <- string(m.Payload)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += publishers {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				_, err := c.Publish(ctx, &paho.Publish{Topic: "echo", QoS: 1, Payload: []byte(strconv.Itoa(i))})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("publish %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case m := <-got:
			seen[m] = true
		case <-c.done:
			t.Fatalf("connection closed after %d of %d messages", len(seen), n)
		case <-time.After(waitFor):
			t.Fatalf("received %d of %d messages, then nothing", len(seen), n)
		}
	}
}

// TestQoS1InflightLimit fills a subscriber's MaxInflight: the node drops
// and counts what is beyond it, keeps the subscriber's window working, and
// delivers again once the subscriber acknowledges.
func TestQoS1InflightLimit(t *testing.T) {
	t.Parallel()
	const window, limit, n = 5, 20, 30
	e := newEnv(t, node.Limits{MaxInflight: limit}, "a")
	a := e.brokers["a"]
	sub := e.dialRaw(a.host)
	tok, claims := a.token(t, nil)
	sub.connectV5With(t, claims.Subject, tok, receiveMaximum(window))
	sub.subscribe(t, "q", 1)

	pub, _ := e.mustConnect("a")
	for i := 0; i < n; i++ {
		if _, err := pub.publish(t, "q", 1, strconv.Itoa(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	// The node acknowledges a QoS 1 publish before it delivers it, so the
	// last drop may be counted just after the last PUBACK.
	dropped := `pubsub_inflight_dropped_total{broker="` + a.host + `"}`
	eventually(t, fmt.Sprintf("%d inflight drops", n-limit), func() bool { return e.metric(dropped) >= n-limit })
	if d := e.metric(dropped); d != n-limit {
		t.Fatalf("pubsub_inflight_dropped_total = %d, want %d", d, n-limit)
	}
	// The first limit messages arrive, a window at a time, then a new one.
	for i := 0; i < limit; i++ {
		p, ok := sub.read(t).Content.(*packets.Publish)
		if !ok || string(p.Payload) != strconv.Itoa(i) {
			t.Fatalf("message %d: got %+v", i, p)
		}
		sub.puback(t, p.PacketID)
	}
	if _, err := pub.publish(t, "q", 1, "after"); err != nil {
		t.Fatal(err)
	}
	if p, ok := sub.read(t).Content.(*packets.Publish); !ok || string(p.Payload) != "after" {
		t.Fatalf("got %+v, want the message published after the backlog cleared", p)
	}
}
