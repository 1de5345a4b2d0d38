package node_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// benchPair connects a subscriber to "bench/+" on sub's node and a
// publisher on pub's node, and waits until NATS knows the subscriber's
// interest. Both disconnect when the benchmark ends, so that the next
// one has no other subscriber.
func benchPair(b *testing.B, f *fleet, pub, sub *env) (*client, *client) {
	b.Helper()
	s, _ := sub.mustConnect("a")
	if _, err := s.subscribe(b, "bench/+", 0); err != nil {
		b.Fatal(err)
	}
	p, _ := pub.mustConnect("a")
	if pub != sub {
		f.waitInterest(b, "a", "bench/1")
	}
	b.Cleanup(func() {
		_ = p.Disconnect(&paho.Disconnect{})
		_ = s.Disconnect(&paho.Disconnect{})
	})
	return p, s
}

// BenchmarkFleetThroughput streams QoS 0 messages of 64 bytes from one
// publisher to one subscriber, at most 256 in flight, on a node without
// NATS, on one node of a fleet (NATS set, no remote subscriber), and
// from one node of a fleet to the other, through one NATS server.
func BenchmarkFleetThroughput(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	for _, bc := range []struct {
		name     string
		pub, sub *env
	}{
		{"NoNATS", f.base, f.base},
		{"SameNode", f.n1, f.n1},
		{"CrossNode", f.n1, f.n2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, s := benchPair(b, f, bc.pub, bc.sub)
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

// BenchmarkFleetLatency sends one QoS 0 message at a time and waits for
// it, on one node and across two, and reports the percentiles of the
// round trip (publish to delivery, paho on both sides).
func BenchmarkFleetLatency(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	for _, bc := range []struct {
		name     string
		pub, sub *env
	}{
		{"SameNode", f.n1, f.n1},
		{"CrossNode", f.n1, f.n2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, s := benchPair(b, f, bc.pub, bc.sub)
			msg := &paho.Publish{Topic: "bench/1", Payload: make([]byte, 64)}
			ctx := context.Background()
			var lat []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := p.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				select {
				case <-s.msgs:
				case <-time.After(10 * time.Second):
					b.Fatal("message lost")
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
