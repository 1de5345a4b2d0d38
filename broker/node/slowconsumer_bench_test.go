package node_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// BenchmarkStuckSubscriber measures what a subscriber that stopped
// reading costs the others. On broker a, topic "clean" has three
// subscribers that read, and topic "stuck" three that read plus one that
// stopped (its socket full, its write timeout of a minute not reached).
// Batches of ten QoS 1 messages of 1 KiB, published one after the other,
// go to each topic in turn, alternating, so that both see the same machine;
// meanwhile broker b carries traffic of its own. It reports:
//
//   - clean-msgs/s, stuck-msgs/s: messages a second that all three reading
//     subscribers of the topic received; stuck-ratio, the median over the
//     rounds of the stuck batch's rate over the clean one's;
//   - other-clean-msgs/s, other-stuck-msgs/s, other-ratio: broker b's
//     messages a second received during each topic's batches, and the
//     ratio of the two (of the totals: a batch sees too few of broker b's
//     messages for a ratio of its own);
//   - clean-revoke-p50-ms, clean-revoke-p99-ms, stuck-revoke-p50-ms,
//     stuck-revoke-p99-ms: from applying a revocation on broker b to its
//     client reading the DISCONNECT, 100 times while topic "clean" is
//     published to and 100 times while "stuck" is, alternating.
//
// The ratios should be at least 0.9, the revocation p99 under 100 ms.
func BenchmarkStuckSubscriber(b *testing.B) {
	e := newEnv(b, node.Limits{}, "a", "b")
	// A node of its own, logging at Info like one in production: the
	// env's logs every debug line, and each delivery the stuck subscriber
	// cannot take is one.
	e.useNode(e.startNodeWith(func(c *node.Config) {
		c.Limits = node.Limits{WriteTimeout: time.Minute, MaxInflight: 1024}
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}))
	subs := map[string][]*atomic.Int64{}
	for _, topic := range []string{"clean", "stuck"} {
		for range 3 {
			subs[topic] = append(subs[topic], counting(b, e, "a", topic))
		}
	}
	stuckSubscriber(b, e, "a", "stuck")
	pub, _ := e.mustConnect("a")
	// Fill the stuck subscriber's socket.
	flood(b, pub, "stuck", 1)
	if !reach(subs["stuck"], floodCount) {
		b.Fatal("the reading subscribers did not get the whole flood")
	}
	sent := map[string]int64{"stuck": floodCount}

	// Broker b's traffic, all along.
	otherGot := counting(b, e, "b", "bench")
	otherPub, _ := e.mustConnect("b")
	payload := []byte(strings.Repeat("x", 1024))
	done := make(chan struct{})
	var bg sync.WaitGroup
	defer func() {
		close(done)
		bg.Wait()
	}()
	publishUntil := func(c *client, topic string) {
		ctx := context.Background()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	}
	bg.Go(func() { publishUntil(otherPub, "bench") })

	// Short batches, so that each round's two are close in time.
	const batch = 10
	rounds := max(1, b.N/batch)
	took := map[string]time.Duration{}
	other := map[string]int64{}
	var ratios []float64
	b.ResetTimer()
	for r := range rounds {
		order := []string{"clean", "stuck"}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		dt := map[string]time.Duration{}
		for _, topic := range order {
			o := otherGot.Load()
			start := time.Now()
			publishBatch(b, pub, topic, batch, payload)
			sent[topic] += int64(batch)
			if !reach(subs[topic], sent[topic]) {
				b.Fatalf("the subscribers of %q did not all get %d messages", topic, sent[topic])
			}
			dt[topic] = time.Since(start)
			took[topic] += dt[topic]
			other[topic] += otherGot.Load() - o
		}
		// The ratios of each round's two batches, next to each other in
		// time, are less exposed to the machine's other load than totals.
		ratios = append(ratios, dt["clean"].Seconds()/dt["stuck"].Seconds())
	}
	b.StopTimer()
	rate := func(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() }
	n := int64(rounds * batch)
	b.ReportMetric(rate(n, took["clean"]), "clean-msgs/s")
	b.ReportMetric(rate(n, took["stuck"]), "stuck-msgs/s")
	b.ReportMetric(median(ratios), "stuck-ratio")
	oClean, oStuck := rate(other["clean"], took["clean"]), rate(other["stuck"], took["stuck"])
	b.ReportMetric(oClean, "other-clean-msgs/s")
	b.ReportMetric(oStuck, "other-stuck-msgs/s")
	b.ReportMetric(oStuck/oClean, "other-ratio")

	// Revocations on broker b while broker a's topics are published to,
	// alternating between the two.
	var topic atomic.Pointer[string]
	clean, stuck := "clean", "stuck"
	topic.Store(&clean)
	bg.Go(func() {
		ctx := context.Background()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: *topic.Load(), QoS: 1, Payload: payload}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	lat := map[string][]time.Duration{}
	for i := range 200 {
		t := &clean
		if i%2 == 1 {
			t = &stuck
		}
		topic.Store(t)
		tok, claims := e.brokers["b"].token(b, nil)
		c, ca, err := e.connect(e.brokers["b"].host, claims.Subject, tok, nil)
		if err != nil {
			b.Fatalf("connect: %v (%+v)", err, ca)
		}
		start := time.Now()
		e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "b", Revocation: &feed.Revocation{JTI: claims.ID}})
		select {
		case <-c.disc:
			lat[*t] = append(lat[*t], time.Since(start))
		case <-time.After(waitFor):
			b.Fatal("no DISCONNECT after a revocation")
		}
	}
	for _, t := range []string{clean, stuck} {
		l := lat[t]
		slices.Sort(l)
		b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, t+"-revoke-p50-ms")
		b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, t+"-revoke-p99-ms")
	}

	// The stuck subscriber must have stayed stuck all along, not been
	// disconnected (the run would then measure two clean topics).
	slow := `pubsub_slow_consumers_total{broker="` + e.brokers["a"].host + `"}`
	if v := e.metric(slow); v != 0 {
		b.Fatalf("%s = %d: the stuck subscriber was disconnected during the run", slow, v)
	}
}

// counting subscribes a client to topic at QoS 1 and counts what it gets.
func counting(b *testing.B, e *env, id, topic string) *atomic.Int64 {
	b.Helper()
	c, _ := e.mustConnect(id)
	if _, err := c.subscribe(b, topic, 1); err != nil {
		b.Fatal(err)
	}
	n := new(atomic.Int64)
	go func() {
		for range c.msgs {
			n.Add(1)
		}
	}()
	return n
}

// publishBatch publishes n QoS 1 messages one after the other.
func publishBatch(b *testing.B, pub *client, topic string, n int, payload []byte) {
	ctx := context.Background()
	for range n {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}

// reach polls until every counter has reached want, for up to a minute.
func reach(subs []*atomic.Int64, want int64) bool {
	deadline := time.Now().Add(time.Minute)
	for _, s := range subs {
		for s.Load() < want {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return true
}

// median returns the median of xs, which it sorts.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}
