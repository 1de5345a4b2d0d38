package node_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/openpubsub/pubsub/bench/wire"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
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

// fanOutSubscribers is the size of each audience of BenchmarkFleetFanOut.
const fanOutSubscribers = 1000

// audience is fanOutSubscribers subscribers of topic+"/+", spread over
// nodes in turn, and a publisher on the first node.
type audience struct {
	name, topic string
	nodes       []*env
	pub         *wireConn
	pkt         []byte
	got         atomic.Int64 // deliveries counted by the subscribers
	sent        int64
	took        time.Duration
}

// connect connects the audience's subscribers, each with a reader
// goroutine that counts its deliveries, and its publisher. They are
// reset when the benchmark ends.
func (a *audience) connect(b *testing.B) {
	b.Helper()
	errs := make(chan error, fanOutSubscribers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				w, err := a.nodes[i%len(a.nodes)].connectWire("a")
				if err == nil {
					err = w.subscribe(1, a.topic+"/+", 0)
				}
				if err != nil {
					errs <- err
					continue
				}
				go func() {
					for {
						typ, _, _, err := w.rd.Next()
						if err != nil {
							return
						}
						if typ == wire.Publish {
							a.got.Add(1)
						}
					}
				}()
			}
		}()
	}
	for i := range fanOutSubscribers {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("connecting a subscriber: %v", err)
	}
	pub, err := a.nodes[0].connectWire("a")
	if err != nil {
		b.Fatal(err)
	}
	a.pub, a.pkt = pub, wire.AppendPublish(nil, a.topic+"/1", 0, 0, make([]byte, 64))
}

// natsTraffic returns the messages the (only) NATS server took from and
// sent to a node's connections, by the server's own counters.
func (f *fleet) natsTraffic(b *testing.B, nodeID string) (in, out int64) {
	b.Helper()
	cz, err := f.nats.Servers[0].Connz(&server.ConnzOptions{Limit: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == "pubsub-node "+nodeID || c.Name == "pubsub-node "+nodeID+" groups" {
			in, out = in+c.InMsgs, out+c.OutMsgs
		}
	}
	return in, out
}

// BenchmarkFleetFanOut streams 64-byte QoS 0 messages from one publisher
// to fanOutSubscribers subscribers, at most 32 messages in flight, for
// three audiences connected at once: on a node without NATS (nonats), on
// node 1 of a fleet alone (single), and spread over three nodes of a
// fleet joined by one NATS server (three), each with its publisher on
// the first of its nodes. The audiences take turns, 200 messages each,
// so that the shared machine's load falls on all three alike; each turn
// lasts until its last delivery. It reports each audience's
// deliveries/s, three's over single's, and, from the NATS server's
// counters, the NATS messages per publish: taken from node 1 for single
// and three (nats-in/pub) and sent to nodes 2 and 3 for three. Every
// delivery is counted; a lost one fails the benchmark.
func BenchmarkFleetFanOut(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	n3 := f.join(b, f.nats.URL(0), "node-3")
	auds := []*audience{
		{name: "nonats", topic: "nonats", nodes: []*env{f.base}},
		{name: "single", topic: "single", nodes: []*env{f.n1}},
		{name: "three", topic: "three", nodes: []*env{f.n1, f.n2, n3}},
	}
	for _, a := range auds {
		a.connect(b)
	}
	natstest.Poll(b, "the nodes' NATS subscriptions", func() bool { return f.nats.Subscriptions(b, "pubsub.") == 4 })
	ids := []string{"node-1", "node-2", "node-3"}
	traffic := func() (t [6]int64) {
		for i, id := range ids {
			t[2*i], t[2*i+1] = f.natsTraffic(b, id)
		}
		return t
	}
	before := traffic()
	const turn, window = 200, 32
	var (
		cur   *audience
		since time.Time
		n     int
	)
	finish := func() {
		want := cur.sent * fanOutSubscribers
		for wait := time.Now(); cur.got.Load() < want; {
			if time.Since(wait) > 10*time.Second {
				b.Fatalf("%s: %d of %d deliveries lost", cur.name, want-cur.got.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
		cur.took += time.Since(since)
	}
	for b.Loop() {
		if n%turn == 0 {
			if cur != nil {
				finish()
			}
			cur, since = auds[n/turn%len(auds)], time.Now()
		}
		for wait := time.Now(); (cur.sent-window)*fanOutSubscribers > cur.got.Load(); {
			if time.Since(wait) > 10*time.Second {
				b.Fatalf("%s stuck: %d sent, %d deliveries", cur.name, cur.sent, cur.got.Load())
			}
			time.Sleep(20 * time.Microsecond)
		}
		if err := cur.pub.write(cur.pkt); err != nil {
			b.Fatal(err)
		}
		cur.sent++
		n++
	}
	finish()
	if n < turn*len(auds) {
		b.Fatalf("%d messages give not every audience a turn of %d: run at least %dx (-benchtime)", n, turn, turn*len(auds))
	}
	rate := map[string]float64{}
	for _, a := range auds {
		rate[a.name] = float64(a.sent*fanOutSubscribers) / a.took.Seconds()
		b.ReportMetric(rate[a.name], a.name+"-deliveries/s")
	}
	b.ReportMetric(rate["three"]/rate["single"], "three/single")
	after := traffic()
	fleetSent, threeSent := float64(auds[1].sent+auds[2].sent), float64(auds[2].sent)
	b.ReportMetric(float64(after[0]-before[0])/fleetSent, "nats-in/pub")
	b.ReportMetric(float64(after[1]-before[1])/fleetSent, "node-1-nats-out/pub")
	for i := 1; i < 3; i++ {
		b.ReportMetric(float64(after[2*i+1]-before[2*i+1])/threeSent, ids[i]+"-nats/pub")
		b.ReportMetric(float64(after[2*i]-before[2*i])/threeSent, ids[i]+"-nats-in/pub")
	}
}

// drops returns the messages a node dropped for broker a: deliveries to a
// full subscriber queue, and messages from the bus it could not take.
func drops(e *env) int64 {
	return max(0, e.metric(`pubsub_deliveries_dropped_total{broker="`+e.brokers["a"].host+`"}`)) +
		max(0, e.metric("pubsub_fleet_receive_drops_total"))
}

// path is a subscriber of BenchmarkFleetLatencyAtRate and what it got.
type path struct {
	name, topic string
	node        *env
	conn        *wireConn
	pkt         []byte
	lat         []time.Duration // written by the reader until done
	got         atomic.Int64
	sent        int64
	drops0      int64
	done        chan struct{}
}

// BenchmarkFleetLatencyAtRate offers 5,000 QoS 0 messages of 64 bytes a
// second from one publisher on node 1, each sent when due (a late
// wake-up sends the messages due since back to back), taking turns of
// 500 messages between a subscriber on node 1 (same) and one on node 2
// (cross), so that the shared machine's load falls on both alike. It
// reports the percentiles of publish to delivery, stamped in the payload
// and read by raw MQTT connections on both sides, and cross's p50 and p99
// minus same's (added-).
func BenchmarkFleetLatencyAtRate(b *testing.B) {
	const rate, turn = 5000, 500
	f := newFleet(b, 1, nil, "a")
	paths := []*path{{name: "same", topic: "same", node: f.n1}, {name: "cross", topic: "cross", node: f.n2}}
	for _, p := range paths {
		sub, err := p.node.connectWire("a")
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.subscribe(1, p.topic+"/+", 0); err != nil {
			b.Fatal(err)
		}
		p.conn, p.pkt, p.done, p.drops0 = sub, wire.AppendPublish(nil, p.topic+"/1", 0, 0, make([]byte, 64)), make(chan struct{}), drops(p.node)
		go func() {
			defer close(p.done)
			for {
				typ, flags, body, err := sub.rd.Next()
				if err != nil {
					return
				}
				if typ != wire.Publish {
					continue
				}
				now := time.Now().UnixNano()
				if m, err := wire.ParsePublish(flags, body); err == nil {
					if ts, _, ok := wire.Stamp(m.Payload); ok {
						p.lat = append(p.lat, time.Duration(now-ts))
					}
				}
				p.got.Add(1)
			}
		}()
	}
	natstest.Poll(b, "both nodes' NATS subscriptions", func() bool { return f.nats.Subscriptions(b, "pubsub.") == 2 })
	pub, err := f.n1.connectWire("a")
	if err != nil {
		b.Fatal(err)
	}
	interval := time.Second / rate
	start := time.Now()
	n := int64(0)
	for b.Loop() {
		p := paths[n/turn%2]
		if d := time.Until(start.Add(time.Duration(n) * interval)); d > 0 {
			time.Sleep(d)
		}
		stampAt := len(p.pkt) - 64
		wire.PutStamp(p.pkt[stampAt:], time.Now().UnixNano(), uint64(n))
		if err := pub.write(p.pkt); err != nil {
			b.Fatal(err)
		}
		p.sent++
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	if n < 2*turn {
		b.Fatalf("%d messages give not both subscribers a turn of %d: run at least %dx (-benchtime)", n, turn, 2*turn)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range paths {
		for p.got.Load() < p.sent && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
	}
	for _, p := range paths {
		p.conn.reset()
		<-p.done
		// A subscriber that stalls past its queue (MaxWritesPending)
		// loses QoS 0 messages, by design; on this shared machine our
		// own reader can stall that long. Such drops are counted and
		// reported; any other loss fails.
		if lost, dropped := p.sent-p.got.Load(), drops(p.node)-p.drops0; lost != dropped {
			b.Fatalf("%s: %d of %d messages lost, %d of them dropped by the node", p.name, lost, p.sent, dropped)
		} else {
			b.ReportMetric(float64(lost), p.name+"-dropped")
		}
		reportPercentiles(b, p.name+"-", p.lat)
	}
	same, cross := paths[0].lat, paths[1].lat // sorted by reportPercentiles
	b.ReportMetric(float64((percentile(cross, 0.5) - percentile(same, 0.5)).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((percentile(cross, 0.99) - percentile(same, 0.99)).Microseconds()), "added-p99-µs")
}
