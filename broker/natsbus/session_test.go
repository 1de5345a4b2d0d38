package natsbus

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
)

func sessionStore(t *testing.T, b *Bus) *Sessions {
	t.Helper()
	s, err := b.Sessions(0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionStore(t *testing.T) {
	const b2 = "fedcba9876543210fedcba9876543210"
	c := natstest.Start(t, 1)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(0), "b")
	sa, sb := sessionStore(t, a), sessionStore(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	load := func(brokerID, clientID string) *broker.StoredSession {
		t.Helper()
		got, err := sb.LoadSession(ctx, brokerID, clientID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	filters := func(s *broker.StoredSession) []string {
		if s == nil {
			return nil
		}
		var out []string
		for _, sub := range s.Subscriptions {
			out = append(out, sub.Filter)
		}
		return out
	}
	// A client id that is no NATS token, and one that only differs in it.
	const id = "dev.1 *>/é"
	first := &broker.StoredSession{BrokerID: b1, ClientID: id, Node: "a", At: t0, Expiry: time.Hour,
		Subscriptions: []broker.StoredSubscription{
			{Filter: "a/+", QoS: 1, NoLocal: true, Identifier: 9},
			{Filter: "$share/g/b/#", QoS: 2, RetainAsPublished: true, RetainHandling: 2},
		}}
	if err := sa.SaveSession(ctx, first); err != nil {
		t.Fatal(err)
	}
	got := load(b1, id)
	if got == nil || got.Node != "a" || !got.At.Equal(t0) || got.Expiry != time.Hour || !got.Disconnected.IsZero() ||
		!slices.Equal(got.Subscriptions, first.Subscriptions) {
		t.Fatalf("LoadSession = %+v, want %+v", got, first)
	}
	for _, other := range [][2]string{{b1, "dev_1 *>/é"}, {b2, id}} {
		if got := load(other[0], other[1]); got != nil {
			t.Fatalf("LoadSession(%q, %q) = %+v, want none", other[0], other[1], got)
		}
	}

	t.Run("LaterConnectionWins", func(t *testing.T) {
		later := *first
		later.Node, later.At, later.Subscriptions = "b", t0.Add(time.Millisecond), []broker.StoredSubscription{{Filter: "c"}}
		if err := sb.SaveSession(ctx, &later); err != nil {
			t.Fatal(err)
		}
		// The earlier connection's writes, arriving late, change nothing.
		stale := *first
		stale.Disconnected = time.Now()
		if err := sa.SaveSession(ctx, &stale); err != nil {
			t.Fatal(err)
		}
		if err := sa.DeleteSession(ctx, b1, first.Owner()); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, id); got == nil || got.Node != "b" || !slices.Equal(filters(got), []string{"c"}) {
			t.Fatalf("LoadSession = %+v, want node b's session", got)
		}
		// Its owner deletes it; a new session may come afterwards.
		if err := sb.DeleteSession(ctx, b1, later.Owner()); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, id); got != nil {
			t.Fatalf("LoadSession = %+v after its deletion", got)
		}
		if err := sa.SaveSession(ctx, first); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, id); got == nil || got.Node != "a" {
			t.Fatalf("LoadSession = %+v, want the session saved after the deletion", got)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		off := &broker.StoredSession{BrokerID: b1, ClientID: "offline", Node: "a", At: t0, Expiry: time.Second,
			Disconnected: time.Now(), Subscriptions: []broker.StoredSubscription{{Filter: "x"}}}
		if err := sa.SaveSession(ctx, off); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, "offline"); got == nil || got.Disconnected.IsZero() {
			t.Fatalf("LoadSession = %+v, want the offline session", got)
		}
		// JetStream removes it with its TTL, leaving a marker.
		bk, err := sa.bucket(ctx)
		if err != nil {
			t.Fatal(err)
		}
		natstest.Poll(t, "the session's TTL to remove it", func() bool {
			m, err := bk.stream.GetLastMsgForSubject(ctx, "$KV."+SessionBucket+"."+sessionKey(b1, "offline"))
			return err == nil && len(m.Data) == 0
		})
		if got := load(b1, "offline"); got != nil {
			t.Fatalf("LoadSession = %+v, want none once expired", got)
		}
		// Expired but not yet removed: not loaded either.
		old := *off
		old.ClientID, old.Disconnected = "stale", time.Now().Add(-2*time.Second)
		if err := sa.SaveSession(ctx, &old); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, "stale"); got != nil {
			t.Fatalf("LoadSession = %+v, want none past its expiry", got)
		}
	})

	t.Run("DeleteSessions", func(t *testing.T) {
		other := *first
		other.BrokerID = b2
		if err := sa.SaveSession(ctx, &other); err != nil {
			t.Fatal(err)
		}
		if err := sa.DeleteSessions(ctx, b1); err != nil {
			t.Fatal(err)
		}
		if got := load(b1, id); got != nil {
			t.Fatalf("LoadSession = %+v after DeleteSessions", got)
		}
		if got := load(b2, id); got == nil {
			t.Fatal("DeleteSessions deleted another broker's session")
		}
	})

	t.Run("BusDown", func(t *testing.T) {
		c.Stop(0)
		natstest.Poll(t, "the bus to see NATS gone", func() bool { return !a.Conn().IsConnected() })
		if _, err := sa.LoadSession(ctx, b1, id); err != ErrBusDown {
			t.Fatalf("LoadSession without NATS: %v, want ErrBusDown", err)
		}
		if err := sa.SaveSession(ctx, first); err != ErrBusDown {
			t.Fatalf("SaveSession without NATS: %v, want ErrBusDown", err)
		}
		if a.Stats().JetStreamErrors < 2 {
			t.Fatalf("JetStreamErrors = %d, want the failures counted", a.Stats().JetStreamErrors)
		}
	})
}

// TestSessionStoreConcurrentWriters: on a three-server cluster (R3, reads
// served by any replica), two nodes writing one session at once leave the
// later connection's session, whatever order their writes land in.
func TestSessionStoreConcurrentWriters(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(2), "b")
	sa, sb := sessionStore(t, a), sessionStore(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t0 := time.Now()
	for round := range 10 {
		id := fmt.Sprint("client-", round)
		earlier := &broker.StoredSession{BrokerID: b1, ClientID: id, Node: "a", At: t0, Expiry: time.Hour,
			Subscriptions: []broker.StoredSubscription{{Filter: "earlier"}}}
		later := &broker.StoredSession{BrokerID: b1, ClientID: id, Node: "b", At: t0.Add(time.Microsecond), Expiry: time.Hour,
			Subscriptions: []broker.StoredSubscription{{Filter: "later"}}}
		errs := make(chan error, 6)
		for i := range 3 {
			go func() { errs <- sa.SaveSession(ctx, earlier) }()
			go func() {
				if i%2 == 0 {
					errs <- sb.SaveSession(ctx, later)
				} else {
					errs <- sa.DeleteSession(ctx, b1, earlier.Owner())
				}
			}()
		}
		for range 6 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		got, err := sb.LoadSession(ctx, b1, id)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || got.Node != "b" || got.Subscriptions[0].Filter != "later" {
			t.Fatalf("round %d: LoadSession = %+v, want the later connection's", round, got)
		}
	}
}
