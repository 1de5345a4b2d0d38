package natsbus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
)

func TestJournalStreamName(t *testing.T) {
	for _, tc := range []struct{ name, id, want string }{
		{"Plain", "0123abcdef", "pubsub_sse_0123abcdef"},
		{"Dashes", "a-b_c", "pubsub_sse_a-b_c"},
		{"Dot", "a.b", "pubsub_sse_h"},
		{"Wildcard", "a>", "pubsub_sse_h"},
		{"Space", "a b", "pubsub_sse_h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := JournalStream(tc.id)
			if !strings.HasPrefix(got, tc.want) || tc.want == "pubsub_sse_h" && len(got) != len(tc.want)+32 {
				t.Fatalf("JournalStream(%q) = %q, want %q…", tc.id, got, tc.want)
			}
		})
	}
	if JournalStream("a.b") == JournalStream("a b") {
		t.Fatal("two broker ids share a stream")
	}
}

// journalOf opens broker b1's journal on bus b.
func journalOf(t *testing.T, ctx context.Context, b *Bus) (*Journal, uint64) {
	t.Helper()
	j, err := b.Journal(b1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := j.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return j, epoch
}

// TestJournal publishes through one node's link and reads the broker's
// journal from another: both see one sequence, the follower gets its
// filter's messages in order, Read returns a range within its limit, and
// a stopped follower leaves no consumer behind.
func TestJournal(t *testing.T) {
	c := natstest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Both nodes give the journal the same limits, as a fleet's nodes
	// have the same flags: each updates the stream to its own.
	connect := func(id string) *Bus {
		b, err := Connect(Config{URL: c.URL(0), NodeID: id, JournalMessages: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		natstest.Poll(t, "the bus to connect", b.Connected)
		return b
	}
	pub, sub := connect("pub"), connect("sub")

	j, epoch := journalOf(t, ctx, sub)
	if _, epoch2 := journalOf(t, ctx, pub); epoch2 != epoch || epoch == 0 {
		t.Fatalf("epochs %d and %d, want one non-zero epoch", epoch, epoch2)
	}
	if last, err := j.Last(ctx); err != nil || last != 0 {
		t.Fatalf("Last = %d, %v; want 0", last, err)
	}
	got := make(chan broker.JournalEntry, 10)
	stop, err := j.Follow(ctx, "s/+", 0, func(e broker.JournalEntry) { got <- e })
	if err != nil {
		t.Fatal(err)
	}
	l, err := pub.join(b1, func(*broker.Message, string) {}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, m := range []struct{ topic, body string }{{"s/1", "one"}, {"t", "other"}, {"s/2", "two"}, {"s/3", "three"}} {
		if err := l.Publish(&broker.Message{Topic: m.topic, Payload: []byte(m.body), Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []struct {
		seq        uint64
		topic, msg string
	}{{1, "s/1", "one"}, {3, "s/2", "two"}, {4, "s/3", "three"}} {
		select {
		case e := <-got:
			if e.Seq != want.seq || e.Message.Topic != want.topic || string(e.Message.Payload) != want.msg || e.Message.BrokerID != b1 {
				t.Fatalf("followed %d %+v, want %d %s %s", e.Seq, e.Message, want.seq, want.topic, want.msg)
			}
			if left := time.Until(e.Message.Expiry); left < 59*time.Minute || left > time.Hour+time.Second {
				t.Fatalf("expiry in %v, want an hour", left)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message %d", want.seq)
		}
	}

	for _, tc := range []struct {
		name         string
		after, upto  uint64
		limit        int
		want         []uint64
		wantComplete bool
	}{
		{"All", 0, 4, 10, []uint64{1, 3, 4}, true},
		{"UpTo", 0, 3, 10, []uint64{1, 3}, true},
		{"After", 1, 4, 10, []uint64{3, 4}, true},
		{"Limit", 0, 4, 2, []uint64{3, 4}, false},
		{"Empty", 4, 4, 10, nil, true},
	} {
		t.Run("Read"+tc.name, func(t *testing.T) {
			es, complete, err := j.Read(ctx, "s/+", tc.after, tc.upto, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range es {
				seqs = append(seqs, e.Seq)
			}
			if !equalSeqs(seqs, tc.want) || complete != tc.wantComplete {
				t.Fatalf("Read = %v, complete %v; want %v, %v", seqs, complete, tc.want, tc.wantComplete)
			}
		})
	}

	// Past the journal's 4 messages, the oldest go: an older position
	// is incomplete.
	if err := l.Publish(&broker.Message{Topic: "s/5", Payload: []byte("five")}); err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "the fifth message", func() bool { n, _ := j.Last(ctx); return n == 5 })
	if es, complete, err := j.Read(ctx, "s/+", 0, 5, 10); err != nil || complete || len(es) != 3 || es[0].Seq != 3 {
		t.Fatalf("Read from the start = %v, complete %v, %v; want 3, 4 and 5, incomplete", es, complete, err)
	}

	stop()
	s, err := sub.js().Stream(ctx, JournalStream(b1))
	if err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "the follower's consumer to go", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Consumers == 0
	})

	// A node with other limits updates the stream, which keeps its epoch.
	other, err := Connect(Config{URL: c.URL(0), NodeID: "other", JournalMessages: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	natstest.Poll(t, "the bus to connect", other.Connected)
	if _, epoch3 := journalOf(t, ctx, other); epoch3 != epoch {
		t.Fatalf("epoch %d after an update, want %d", epoch3, epoch)
	}
	if info, err := s.Info(ctx); err != nil || info.Config.MaxMsgs != 7 {
		t.Fatalf("after the update: %v, %v; want MaxMsgs 7", info, err)
	}

	if err := j.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.js().Stream(ctx, JournalStream(b1)); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("after Delete: %v, want no stream", err)
	}
	if err := j.Delete(ctx); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// js returns a JetStream context of the bus, for tests.
func (b *Bus) js() jetstream.JetStream {
	js, _ := jetstream.New(b.nc)
	return js
}
