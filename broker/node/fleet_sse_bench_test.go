package node_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// journalPair is benchPair for broker id: a subscriber to "bench/+" on
// sub's node and a publisher on pub's node. With journal set, an SSE
// stream on another topic then makes the broker's SSE journal, a
// JetStream stream that stores every message of the broker; it is made
// last because it is an interest in every topic of the broker, which
// would hide the subscriber's own from waitInterest.
func journalPair(b *testing.B, f *fleet, id string, pub, sub *env, journal bool) (*client, *client) {
	b.Helper()
	s, _ := sub.mustConnect(id)
	if _, err := s.subscribe(b, "bench/+", 0); err != nil {
		b.Fatal(err)
	}
	p, _ := pub.mustConnect(id)
	if pub != sub {
		subj := "pubsub." + id + ".bench.1"
		f.nats.WaitInterest(b, 0, subj)
	}
	if journal {
		tok, _ := sub.brokers[id].token(b, nil)
		sse := sub.subscribeSSE(id, "topic=elsewhere", tok, nil)
		b.Cleanup(func() { sse.resp.Body.Close() })
	}
	b.Cleanup(func() {
		_ = p.Disconnect(&paho.Disconnect{})
		_ = s.Disconnect(&paho.Disconnect{})
	})
	return p, s
}

// BenchmarkFleetJournal measures what the SSE journal costs the publish
// path: BenchmarkFleetThroughput's stream of 64-byte QoS 0 messages, at
// most 256 in flight, on a broker without a journal ("a") and on one
// whose journal stores every message ("b"), same node and across nodes.
func BenchmarkFleetJournal(b *testing.B) {
	f := newFleet(b, 1, nil, "a", "b")
	for _, bc := range []struct {
		name     string
		id       string
		pub, sub *env
		journal  bool
	}{
		{"SameNode", "a", f.n1, f.n1, false},
		{"SameNodeJournal", "b", f.n1, f.n1, true},
		{"CrossNode", "a", f.n1, f.n2, false},
		{"CrossNodeJournal", "b", f.n1, f.n2, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, s := journalPair(b, f, bc.id, bc.pub, bc.sub, bc.journal)
			var got atomic.Int64
			done := make(chan struct{})
			stop := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-s.msgs:
						got.Add(1)
					case <-stop:
						return
					}
				}
			}()
			msg := &paho.Publish{Topic: "bench/1", Payload: make([]byte, 64)}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(msg.Payload)))
			start := time.Now()
			sent := int64(0)
			for b.Loop() {
				for wait := time.Now(); sent-got.Load() >= 256; {
					if time.Since(wait) > 10*time.Second {
						b.Fatalf("stuck: %d sent, %d received", sent, got.Load())
					}
					time.Sleep(20 * time.Microsecond)
				}
				if _, err := p.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				sent++
			}
			deadline := time.Now().Add(10 * time.Second)
			for got.Load() < sent && time.Now().Before(deadline) {
				time.Sleep(100 * time.Microsecond)
			}
			elapsed := time.Since(start)
			close(stop)
			<-done
			if lost := sent - got.Load(); lost > 0 {
				b.Fatalf("%d of %d messages lost", lost, sent)
			}
			b.ReportMetric(float64(sent)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkFleetSSELatency publishes one QoS 0 message at a time over
// MQTT and waits for it on an SSE stream: on a node without NATS (the
// hub subscribes on the broker's server), and in a fleet, where the
// stream follows the broker's journal in JetStream, on the publisher's
// node and on the other.
func BenchmarkFleetSSELatency(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	for _, bc := range []struct {
		name     string
		pub, sub *env
	}{
		{"NoNATS", f.base, f.base},
		{"JournalSameNode", f.n1, f.n1},
		{"JournalCrossNode", f.n1, f.n2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tok, _ := bc.sub.brokers["a"].token(b, nil)
			sse := bc.sub.subscribeSSE("a", "topic=lat", tok, nil)
			defer sse.resp.Body.Close()
			p, _ := bc.pub.mustConnect("a")
			defer p.Disconnect(&paho.Disconnect{})
			msg := &paho.Publish{Topic: "lat", Payload: []byte("x")}
			ctx := context.Background()
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := p.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if ev := sse.next(b); ev.data != "x" {
					b.Fatalf("got %+v", ev)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
