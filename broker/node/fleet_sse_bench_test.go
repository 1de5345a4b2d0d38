package node_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
	"github.com/openpubsub/pubsub/broker/node"
)

// newBenchFleet is newFleet on the in-process NATS server, or, when
// PUBSUB_BENCH_NATS_URL is set, on that NATS server (another process,
// whose CPU the benchmark then does not count as its own; give its
// process id in PUBSUB_BENCH_NATS_PID to have it reported).
func newBenchFleet(b *testing.B, ids ...string) *fleet {
	url := os.Getenv("PUBSUB_BENCH_NATS_URL")
	if url == "" {
		return newFleet(b, 1, nil, ids...)
	}
	base := newEnv(b, node.Limits{}, ids...)
	start := func(nodeID string) *env {
		n := base.startNodeWith(func(cfg *node.Config) { cfg.NATS = &natsbus.Config{URL: url, NodeID: nodeID} })
		e := *base
		e.useNode(n)
		natstest.Poll(b, nodeID+" to connect", func() bool { return e.metric("pubsub_fleet_nats_connected") == 1 })
		return &e
	}
	return &fleet{base: base, n1: start("node-1"), n2: start("node-2")}
}

// journalPair is benchPair for broker id: a subscriber to "bench/+" on
// sub's node and a publisher on pub's node, with probes published until
// one arrives (so that the subscriber's interest has reached NATS). With
// journal set, an SSE stream on another topic then makes the broker's
// SSE journal, a JetStream stream that stores every message of the
// broker.
func journalPair(b *testing.B, id string, pub, sub *env, journal bool) (*client, *client) {
	b.Helper()
	s, _ := sub.mustConnect(id)
	if _, err := s.subscribe(b, "bench/+", 0); err != nil {
		b.Fatal(err)
	}
	p, _ := pub.mustConnect(id)
	probe := &paho.Publish{Topic: "bench/probe", Payload: []byte("probe")}
	deadline := time.Now().Add(10 * time.Second)
probing:
	for {
		if _, err := p.Publish(context.Background(), probe); err != nil {
			b.Fatal(err)
		}
		select {
		case <-s.msgs:
			break probing
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatal("no probe arrived")
		}
	}
	for drained := false; !drained; { // probes still on their way
		select {
		case <-s.msgs:
		case <-time.After(100 * time.Millisecond):
			drained = true
		}
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

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// natsCPUTime returns the CPU time of the process PUBSUB_BENCH_NATS_PID
// names, from /proc (Linux); false without it.
func natsCPUTime() (time.Duration, bool) {
	pid := os.Getenv("PUBSUB_BENCH_NATS_PID")
	if pid == "" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which ends with ")": utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}

// BenchmarkFleetJournal measures what the SSE journal costs the publish
// path: BenchmarkFleetThroughput's stream of 64-byte QoS 0 messages, at
// most 256 in flight, on a broker without a journal ("a") and on one
// whose journal stores every message ("b"), same node and across nodes.
func BenchmarkFleetJournal(b *testing.B) {
	f := newBenchFleet(b, "a", "b")
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
			p, s := journalPair(b, bc.id, bc.pub, bc.sub, bc.journal)
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
			start, cpu0 := time.Now(), cpuTime()
			ncpu0, external := natsCPUTime()
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
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(sent)/1e3, "cpu-µs/msg")
			if ncpu1, ok := natsCPUTime(); ok && external {
				b.ReportMetric(float64((ncpu1-ncpu0).Nanoseconds())/float64(sent)/1e3, "nats-cpu-µs/msg")
			}
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
