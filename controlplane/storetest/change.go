package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// listener is what both stores offer besides controlplane.Store to wake
// feed readers, possibly in other processes.
type listener interface {
	ListenChanges(ctx context.Context, fn func(rev int64)) error
}

var changeTests = []test{
	{"ListChanges/Contents", func(t *testing.T, f *fixture) {
		start := time.Now().Truncate(time.Microsecond)
		a := f.account("a@example.com")
		ns := f.namespace(a, "alpha")
		b := f.broker(ns, "one")
		ok(t, f.s.UpdateBroker(f.ctx, b))
		first := f.listKeys(b.ID)
		f.rotate(b.ID)
		jtis := f.credentials(b, 3, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, b.ID, jtis[1:], now, 10))
		ok(t, f.s.UnrevokeCredentials(f.ctx, b.ID, jtis[2:]))
		ok(t, f.s.DeleteKey(f.ctx, b.ID, first[0].ID))
		ok(t, f.s.DeleteBroker(f.ctx, b.ID))
		ok(t, f.s.DeleteNamespace(f.ctx, a.ID, "alpha"))
		end := time.Now()

		equal(t, "changes", f.changes(0), []string{
			changeLine(controlplane.ChangeNamespace, ns.ID, "", ""),
			changeLine(controlplane.ChangeBroker, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeKeys, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeBroker, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeKeys, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeRevocation, ns.ID, b.ID, jtis[1]),
			changeLine(controlplane.ChangeRevocation, ns.ID, b.ID, jtis[2]),
			changeLine(controlplane.ChangeRevocation, ns.ID, b.ID, jtis[2]),
			changeLine(controlplane.ChangeKeys, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeBroker, ns.ID, b.ID, ""),
			changeLine(controlplane.ChangeNamespace, ns.ID, "", ""),
		})
		list, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		var prev int64
		for _, c := range list {
			if c.Revision <= prev {
				t.Fatalf("revision %d follows %d, want strictly increasing", c.Revision, prev)
			}
			prev = c.Revision
			if c.At.Before(start) || c.At.After(end) || c.At.Location() != time.UTC || c.At.Nanosecond()%1000 != 0 {
				t.Fatalf("change %d At = %v, want a UTC microsecond time between %v and %v", c.Revision, c.At, start, end)
			}
		}
	}},
	{"ListChanges/AfterAndLimit", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		for _, name := range []string{"a", "b", "c", "d", "e"} {
			f.namespace(a, name)
		}
		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		equal(t, "len(all)", len(all), 5)
		tests := []struct {
			name  string
			after int64
			limit int
			want  []*controlplane.Change
		}{
			{"FromStart", 0, 2, all[:2]},
			{"AfterSecond", all[1].Revision, 2, all[2:4]},
			{"Rest", all[1].Revision, 100, all[2:]},
			{"NoLimit", all[0].Revision, 0, all[1:]},
			{"AtEnd", all[4].Revision, 10, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := f.s.ListChanges(f.ctx, tt.after, tt.limit)
				ok(t, err)
				if len(got) != len(tt.want) {
					t.Fatalf("got %d changes, want %d", len(got), len(tt.want))
				}
				for i := range got {
					equal(t, "change", got[i], tt.want[i])
				}
			})
		}
	}},
	{"ListChanges/NoneOnFailure", func(t *testing.T, f *fixture) {
		w := f.world()
		rev := f.revision()
		_ = f.s.CreateNamespace(f.ctx, &controlplane.Namespace{ID: "ns_x", AccountID: w.a.ID, Name: "alpha", CreatedOn: t0})
		_ = f.s.CreateBroker(f.ctx, f.newBroker(w.nsA, "one"), nil)
		_ = f.s.DeleteNamespace(f.ctx, w.a.ID, "alpha")
		_ = f.s.DeleteKey(f.ctx, w.broker.ID, f.listKeys(w.broker.ID)[0].ID)
		_ = f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{"nope"}, now, 10)
		equal(t, "changes", f.changes(rev), []string{})
		// A failed transaction does not use up a revision either.
		f.namespace(w.a, "gamma")
		list, err := f.s.ListChanges(f.ctx, rev, 0)
		ok(t, err)
		if got, want := list[0].Revision, rev+1; got != want {
			t.Fatalf("next revision = %d, want %d", got, want)
		}
	}},
	{"OldestRevision/OK", func(t *testing.T, f *fixture) {
		rev, err := f.s.OldestRevision(f.ctx)
		ok(t, err)
		equal(t, "OldestRevision of an empty feed", rev, int64(0))
		a := f.account("a@example.com")
		f.namespace(a, "a")
		f.namespace(a, "b")
		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		rev, err = f.s.OldestRevision(f.ctx)
		ok(t, err)
		equal(t, "OldestRevision", rev, all[0].Revision)
	}},
	{"LatestRevision/OK", func(t *testing.T, f *fixture) {
		rev, err := f.s.LatestRevision(f.ctx)
		ok(t, err)
		equal(t, "LatestRevision of an empty feed", rev, int64(0))
		a := f.account("a@example.com")
		f.namespace(a, "a")
		f.namespace(a, "b")
		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		_, err = f.s.PruneChanges(f.ctx, all[len(all)-1].Revision)
		ok(t, err)
		rev, err = f.s.LatestRevision(f.ctx)
		ok(t, err)
		equal(t, "LatestRevision after pruning", rev, all[len(all)-1].Revision)
	}},
	{"PruneChanges/OK", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
			f.namespace(a, name)
		}
		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		n, err := f.s.PruneChanges(f.ctx, all[2].Revision)
		ok(t, err)
		equal(t, "pruned", n, 3)
		rev, err := f.s.OldestRevision(f.ctx)
		ok(t, err)
		equal(t, "OldestRevision", rev, all[3].Revision)
		left, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		equal(t, "changes left", left, all[3:])
		n, err = f.s.PruneChanges(f.ctx, all[2].Revision)
		ok(t, err)
		equal(t, "pruned again", n, 0)

		// The newest change always stays, so that OldestRevision still
		// tells a reader at all[0] that it missed changes.
		n, err = f.s.PruneChanges(f.ctx, all[5].Revision+100)
		ok(t, err)
		equal(t, "pruned all", n, 2)
		left, err = f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		equal(t, "changes left", left, all[5:])
		rev, err = f.s.OldestRevision(f.ctx)
		ok(t, err)
		equal(t, "OldestRevision", rev, all[5].Revision)

		// Revisions keep increasing after a prune.
		f.namespace(a, "g")
		next, err := f.s.ListChanges(f.ctx, all[5].Revision, 0)
		ok(t, err)
		if len(next) != 1 || next[0].Revision <= all[5].Revision {
			t.Fatalf("after pruning, got changes %s, want one above %d", dump(next), all[5].Revision)
		}
	}},
	{"Snapshot/Empty", func(t *testing.T, f *fixture) {
		snap, err := f.s.Snapshot(f.ctx, now)
		ok(t, err)
		equal(t, "Revision", snap.Revision, int64(0))
		equal(t, "len(Brokers)", len(snap.Brokers), 0)
		// An account alone records no change.
		f.account("a@example.com")
		snap, err = f.s.Snapshot(f.ctx, now)
		ok(t, err)
		equal(t, "Revision", snap.Revision, int64(0))
	}},
	{"Snapshot/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		two := f.broker(w.nsB, "two")
		f.rotate(w.broker.ID)
		soon := now.Add(time.Hour)
		jtis := f.credentials(w.broker, 3, &soon)
		forever := f.credentials(two, 1, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[:2], now, 10))
		ok(t, f.s.RevokeCredentials(f.ctx, two.ID, forever, now, 10))

		snap, err := f.s.Snapshot(f.ctx, now)
		ok(t, err)
		equal(t, "Revision", snap.Revision, f.revision())
		if got, want := len(snap.Brokers), 2; got != want {
			t.Fatalf("snapshot has %d brokers, want %d", got, want)
		}
		for i, b := range []*controlplane.Broker{w.broker, two} {
			want := f.state(b.ID, now)
			equal(t, "snapshot broker", snap.Brokers[i], want)
		}
		equal(t, "revocations of one", len(snap.Brokers[0].Revocations), 2)

		// Revocations expired at now are left out.
		snap, err = f.s.Snapshot(f.ctx, soon)
		ok(t, err)
		equal(t, "revocations of one after expiry", len(snap.Brokers[0].Revocations), 0)
		equal(t, "revocations of two after expiry", len(snap.Brokers[1].Revocations), 1)
	}},
	{"FindBrokerState/OK", func(t *testing.T, f *fixture) {
		w := f.world()
		f.broker(w.nsA, "two")
		f.rotate(w.broker.ID)
		soon := now.Add(time.Hour)
		jtis := f.credentials(w.broker, 2, &soon)
		forever := f.credentials(w.broker, 1, nil)
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, append(jtis, forever...), now, 10))

		st, err := f.s.FindBrokerState(f.ctx, w.broker.ID, now)
		ok(t, err)
		equal(t, "state", st, f.state(w.broker.ID, now))
		equal(t, "revocations", len(st.Revocations), 3)
		st, err = f.s.FindBrokerState(f.ctx, w.broker.ID, soon)
		ok(t, err)
		equal(t, "revocations after expiry", len(st.Revocations), 1)
	}},
	{"FindBrokerState/ErrNotFound", func(t *testing.T, f *fixture) {
		f.world()
		_, err := f.s.FindBrokerState(f.ctx, "br_x", now)
		wantErr(t, err, controlplane.ENOTFOUND, `broker "br_x" not found`)
	}},
	{"ListenChanges/OK", func(t *testing.T, f *fixture) {
		l, isListener := f.s.(listener)
		if !isListener {
			t.Skip("the store has no ListenChanges")
		}
		w := f.world()
		start := f.revision()
		ctx, cancel := context.WithCancel(f.ctx)
		revs := make(chan int64, 100)
		done := make(chan error, 1)
		go func() { done <- l.ListenChanges(ctx, func(rev int64) { revs <- rev }) }()
		wait := func(min int64) {
			t.Helper()
			timeout := time.After(10 * time.Second)
			for {
				select {
				case rev := <-revs:
					if rev >= min {
						return
					}
				case err := <-done:
					t.Fatalf("ListenChanges returned early: %v", err)
				case <-timeout:
					t.Fatalf("no call of fn with a revision >= %d within 10s", min)
				}
			}
		}
		// The first call reports the current revision.
		select {
		case rev := <-revs:
			equal(t, "first revision", rev, start)
		case err := <-done:
			t.Fatalf("ListenChanges returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("ListenChanges did not call fn within 10s")
		}
		f.namespace(w.a, "gamma")
		wait(f.revision())
		ok(t, f.s.RevokeCredentials(f.ctx, w.broker.ID, f.credentials(w.broker, 2, nil), now, 10))
		wait(f.revision())

		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("ListenChanges after cancel = %v, want %v", err, context.Canceled)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ListenChanges did not return within 10s of its context ending")
		}
	}},
}

// state is the BrokerState a snapshot must hold for one broker, built from
// the other read methods.
func (f *fixture) state(brokerID string, at time.Time) *controlplane.BrokerState {
	f.t.Helper()
	b, err := f.s.FindBrokerByID(f.ctx, brokerID)
	if err != nil {
		f.t.Fatalf("FindBrokerByID: %v", err)
	}
	keys := f.listKeys(brokerID)
	if keys == nil {
		keys = []*controlplane.SigningKey{}
	}
	for _, k := range keys {
		k.SealedKey = nil
	}
	revs, _, err := f.s.ListRevocations(f.ctx, brokerID, at, controlplane.Page{})
	if err != nil {
		f.t.Fatalf("ListRevocations: %v", err)
	}
	if revs == nil {
		revs = []*controlplane.Revocation{}
	}
	return &controlplane.BrokerState{Broker: b, Keys: keys, Revocations: revs}
}
