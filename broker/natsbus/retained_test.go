package natsbus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
)

func retainedStore(t *testing.T, b *Bus) *Retained {
	t.Helper()
	r, err := b.Retained(0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// topics lists the topics of messages, sorted.
func topics(ms []*broker.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Topic)
	}
	slices.Sort(out)
	return out
}

func TestRetainedStore(t *testing.T) {
	const b2 = "fedcba9876543210fedcba9876543210"
	c := natstest.Start(t, 3)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(2), "b")
	ra, rb := retainedStore(t, a), retainedStore(t, b)
	// Generous: a three-server JetStream cluster under -race on two busy
	// cores takes seconds per step.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, m := range []*broker.Message{
		{BrokerID: b1, Topic: "s/1", Payload: []byte("one"), QoS: 1, ContentType: "text/plain"},
		{BrokerID: b1, Topic: "s/2.x", Payload: []byte("two")},
		{BrokerID: b1, Topic: "s", Payload: []byte("parent")},
		{BrokerID: b1, Topic: "gone", Payload: []byte("expired"), Expiry: time.Now().Add(-time.Minute)},
		{BrokerID: b1, Topic: "later", Payload: []byte("expires"), Expiry: time.Now().Add(time.Hour)},
		{BrokerID: b2, Topic: "s/1", Payload: []byte("other broker")},
	} {
		if err := ra.Retain(ctx, m); err != nil {
			t.Fatalf("Retain(%s): %v", m.Topic, err)
		}
	}
	kv, err := ra.bucket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bucket() != RetainedBucket || st.History() != 1 {
		t.Fatalf("bucket %s with history %d", st.Bucket(), st.History())
	}
	if js, err := ra.js.Stream(ctx, "KV_"+RetainedBucket); err != nil || js.CachedInfo().Config.Replicas != 3 {
		t.Fatalf("the bucket's stream: %v, want 3 replicas on a three-server cluster", err)
	}

	for filter, want := range map[string][]string{
		"s/+": {"s/1", "s/2.x"}, "s/#": {"s", "s/1", "s/2.x"}, "#": {"later", "s", "s/1", "s/2.x"}, "s/1": {"s/1"}, "x": nil,
	} {
		got, err := rb.Retained(ctx, b1, filter)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(topics(got), want) {
			t.Errorf("Retained(%q) = %q, want %q", filter, topics(got), want)
		}
	}
	got, _ := rb.Retained(ctx, b1, "s/1")
	if m := got[0]; string(m.Payload) != "one" || m.QoS != 1 || !m.Retain || m.ContentType != "text/plain" || m.BrokerID != b1 {
		t.Fatalf("got %+v", m)
	}
	got, _ = rb.Retained(ctx, b1, "later")
	if left := time.Until(got[0].Expiry); left < 59*time.Minute || left > time.Hour {
		t.Fatalf("expiry in %v", left)
	}

	// An empty payload deletes; deleting a broker leaves the others.
	if err := rb.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := rb.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "never/there"}); err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "s to be deleted on the other node", func() bool {
		got, err := ra.Retained(ctx, b1, "#")
		if err != nil {
			t.Fatal(err)
		}
		return slices.Equal(topics(got), []string{"later", "s/1", "s/2.x"})
	})
	if err := rb.DeleteRetained(ctx, b1); err != nil {
		t.Fatal(err)
	}
	// Read through the other node's server: the purge reaches it a moment
	// after rb's call returns.
	natstest.Poll(t, "broker 1's retained messages to be gone on the other node", func() bool {
		got, err := ra.Retained(ctx, b1, "#")
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 0
	})
	if got, err := ra.Retained(ctx, b2, "#"); err != nil || !slices.Equal(topics(got), []string{"s/1"}) {
		t.Fatalf("broker 2 has %q (%v), want s/1", topics(got), err)
	}
}

// watchLog collects what a watch applies.
type watchLog struct {
	mu  sync.Mutex
	got []string
}

func (w *watchLog) apply(m *broker.Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, m.Topic+"="+string(m.Payload))
}

func (w *watchLog) has(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Contains(w.got, s)
}

func TestWatchRetained(t *testing.T) {
	c := natstest.Start(t, 1)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(0), "b")
	ra, rb := retainedStore(t, a), retainedStore(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ra.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "before", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	w := &watchLog{}
	loaded, stop := rb.WatchRetained(b1, w.apply)
	defer stop()
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatal("the stored messages never loaded")
	}
	if !w.has("before=1") {
		t.Fatalf("loaded before the stored message was applied: %q", w.got)
	}
	if err := ra.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "after", Payload: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if err := ra.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := ra.Retain(ctx, &broker.Message{BrokerID: "another", Topic: "x", Payload: []byte("3")}); err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "the change and the deletion", func() bool { return w.has("after=2") && w.has("before=") })
	stop()
	if w.has("x=3") {
		t.Fatal("the watch saw another broker's message")
	}
}

func TestRetainWithoutNATSFailsAtOnce(t *testing.T) {
	c := natstest.Start(t, 1)
	a := startBus(t, c.URL(0), "a")
	r := retainedStore(t, a)
	c.Stop(0)
	natstest.Poll(t, "the bus to see NATS gone", func() bool { return !a.Conn().IsConnected() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour) // a wait would hang the test
	defer cancel()
	if err := r.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "t", Payload: []byte("x")}); err != ErrBusDown {
		t.Fatalf("err = %v, want ErrBusDown", err)
	}
	if a.Stats().JetStreamErrors != 1 {
		t.Fatalf("stats %+v, want one JetStream error", a.Stats())
	}
}

// TestRetainedBucketMadeByTwoNodesAtOnce has two nodes, on two servers
// of a three-server cluster, make the replicated bucket at the same
// time, as nodes that start together do: both get it at once. An update
// first (what CreateOrUpdateKeyValue does) of the stream the other node
// was creating went unanswered until its deadline.
func TestRetainedBucketMadeByTwoNodesAtOnce(t *testing.T) {
	c := natstest.Start(t, 3)
	stores := []*Retained{retainedStore(t, startBus(t, c.URL(0), "a")), retainedStore(t, startBus(t, c.URL(2), "b"))}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, r := range stores {
		wg.Go(func() {
			errs[i] = r.Retain(ctx, &broker.Message{BrokerID: b1, Topic: fmt.Sprint("t/", i), Payload: []byte("x")})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
	}
	// A node that comes later binds the bucket as it is.
	late := retainedStore(t, startBus(t, c.URL(1), "c"))
	got, err := late.Retained(ctx, b1, "#")
	if err != nil || len(got) != 2 {
		t.Fatalf("a later node: %d messages, %v; want 2", len(got), err)
	}
}

// A node's watch applies every change of the bucket, its own writes too:
// Retain returns once the node's own watch has applied what it wrote, so
// that the watch's late copy of an earlier change cannot bring that one
// back after the publisher has its PUBACK.
func TestRetainReturnsOnceItsOwnWatchAppliedIt(t *testing.T) {
	c := natstest.Start(t, 1)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(0), "b")
	ra, rb := retainedStore(t, a), retainedStore(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Node a's watch holds the first change it gets until the gate opens.
	gate, held := make(chan struct{}), make(chan struct{})
	var open, hold sync.Once
	openGate := func() { open.Do(func() { close(gate) }) }
	var mu sync.Mutex
	state := "" // what node a holds for topic t
	loaded, stop := ra.WatchRetained(b1, func(m *broker.Message) {
		hold.Do(func() {
			close(held)
			<-gate
		})
		mu.Lock()
		state = string(m.Payload)
		mu.Unlock()
	})
	defer stop()
	defer openGate()
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatal("the watch never loaded")
	}

	if err := rb.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "t", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("node a's watch got nothing")
	}
	returned := make(chan string, 1)
	go func() {
		if err := ra.Retain(ctx, &broker.Message{BrokerID: b1, Topic: "t", Payload: []byte("2")}); err != nil {
			returned <- "error: " + err.Error()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		returned <- state
	}()
	// A Retain that does not wait for its watch returns about when the
	// change is stored.
	kv, err := ra.bucket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := key(b1, "t")
	natstest.Poll(t, "the second change to be stored", func() bool {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return false
		}
		m, err := decodeRetained(b1, k, e.Value(), time.Now())
		return err == nil && string(m.Payload) == "2"
	})
	openGate()
	if got := <-returned; got != "2" {
		t.Fatalf("when Retain returned, node a held %q for the topic, want %q, what it wrote", got, "2")
	}
}
