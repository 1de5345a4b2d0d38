package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// parallel runs fn(i) for i in [0, n) on n goroutines and fails the test
// with the first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

var concurrencyTests = []test{
	// A reader that follows the feed with ListChanges(after) while writers
	// commit concurrently must see every change: revisions are assigned in
	// commit order, so no lower revision can commit after a higher one was
	// read.
	{"FeedNeverSkips", func(t *testing.T, f *fixture) {
		a := f.account("a@example.com")
		const writers, each = 8, 15
		stop := make(chan struct{})
		seen := make(chan []int64, 1)
		go func() {
			var revs []int64
			var after int64
			for done := false; ; {
				select {
				case <-stop:
					done = true
				default:
				}
				list, err := f.s.ListChanges(f.ctx, after, 7)
				if err != nil {
					t.Error(err)
					break
				}
				for _, c := range list {
					revs = append(revs, c.Revision)
					after = c.Revision
				}
				if done && len(list) == 0 {
					break
				}
			}
			seen <- revs
		}()
		parallel(t, writers, func(i int) error {
			for j := range each {
				at := t0.Add(time.Duration(i*each+j) * time.Millisecond)
				ns := &controlplane.Namespace{ID: fmt.Sprintf("ns_%d_%d", i, j), AccountID: a.ID, Name: fmt.Sprintf("n%d-%d", i, j), CreatedOn: at}
				if err := f.s.CreateNamespace(f.ctx, ns); err != nil {
					return err
				}
				if j%3 == 0 {
					if err := f.s.DeleteNamespace(f.ctx, a.ID, ns.Name); err != nil {
						return err
					}
				}
			}
			return nil
		})
		close(stop)
		got := <-seen

		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		want := make([]int64, len(all))
		for i, c := range all {
			want[i] = c.Revision
		}
		if got, want := len(want), writers*(each+(each+2)/3); got != want {
			t.Fatalf("%d changes recorded, want %d", got, want)
		}
		seenRev := map[int64]bool{}
		for _, r := range got {
			seenRev[r] = true
		}
		var missed []int64
		for _, r := range want {
			if !seenRev[r] {
				missed = append(missed, r)
			}
		}
		if len(missed) > 0 {
			t.Fatalf("the reader missed revisions %v of %d: they committed after a higher revision was read", missed, len(want))
		}
		equal(t, "revisions the reader saw", got, want)
	}},
	// Snapshots taken while brokers are being created hold exactly the
	// brokers whose creation is at or below the snapshot's revision, each
	// with the keys created in the same transaction.
	{"SnapshotConsistent", func(t *testing.T, f *fixture) {
		w := f.world()
		const writers, each = 6, 8
		stop := make(chan struct{})
		snaps := make(chan []*controlplane.Snapshot, 1)
		go func() {
			var list []*controlplane.Snapshot
			for {
				select {
				case <-stop:
					snaps <- list
					return
				default:
				}
				snap, err := f.s.Snapshot(f.ctx, now)
				if err != nil {
					t.Error(err)
					snaps <- list
					return
				}
				list = append(list, snap)
			}
		}()
		parallel(t, writers, func(i int) error {
			for j := range each {
				b := &controlplane.Broker{ID: fmt.Sprintf("br_%d_%d", i, j), NamespaceID: w.nsA.ID, Name: fmt.Sprintf("b%d-%d", i, j),
					AuthType: controlplane.AuthTypeToken, CreatedOn: t0.Add(time.Duration(i*each+j) * time.Millisecond)}
				keys := []*controlplane.SigningKey{
					{ID: b.ID + "_cur", State: controlplane.KeyCurrent, PublicKey: []byte("p"), SealedKey: []byte("s"), CreatedOn: t0},
					{ID: b.ID + "_next", State: controlplane.KeyNext, PublicKey: []byte("p"), SealedKey: []byte("s"), CreatedOn: t0},
				}
				if err := f.s.CreateBroker(f.ctx, b, keys); err != nil {
					return err
				}
			}
			return nil
		})
		close(stop)
		list := <-snaps
		list = append(list, func() *controlplane.Snapshot {
			s, err := f.s.Snapshot(f.ctx, now)
			ok(t, err)
			return s
		}())

		all, err := f.s.ListChanges(f.ctx, 0, 0)
		ok(t, err)
		for _, snap := range list {
			brokers := 0
			for _, c := range all {
				if c.Kind == controlplane.ChangeBroker && c.Revision <= snap.Revision {
					brokers++
				}
			}
			if got, want := len(snap.Brokers), brokers; got != want {
				t.Fatalf("snapshot at revision %d has %d brokers, want %d", snap.Revision, got, want)
			}
			for _, st := range snap.Brokers {
				if got, want := len(st.Keys), 2; got != want {
					t.Fatalf("snapshot at revision %d: broker %s has %d keys, want %d", snap.Revision, st.Broker.ID, got, want)
				}
			}
		}
		if got, want := len(list[len(list)-1].Brokers), 1+writers*each; got != want {
			t.Fatalf("final snapshot has %d brokers, want %d", got, want)
		}
	}},
	// Many requests at once, reads and writes mixed, as the HTTP API
	// makes them: none may fail (for SQLite: no SQLITE_BUSY).
	{"MixedLoad", func(t *testing.T, f *fixture) {
		w := f.world()
		const workers, rounds = 16, 10
		parallel(t, workers, func(i int) error {
			for j := range rounds {
				creds := make([]*controlplane.Credential, 10)
				for k := range creds {
					creds[k] = &controlplane.Credential{JTI: fmt.Sprintf("j%d-%d-%d", i, j, k), BrokerID: w.broker.ID,
						ClientID: "c", KeyID: "k", IssuedAt: t0, TopicACL: []string{"#"}}
				}
				if err := f.s.CreateCredentials(f.ctx, creds); err != nil {
					return fmt.Errorf("CreateCredentials: %w", err)
				}
				if err := f.s.RevokeCredentials(f.ctx, w.broker.ID, []string{creds[0].JTI, creds[1].JTI}, now, 1_000_000); err != nil {
					return fmt.Errorf("RevokeCredentials: %w", err)
				}
				if err := f.s.UnrevokeCredentials(f.ctx, w.broker.ID, []string{creds[1].JTI}); err != nil {
					return fmt.Errorf("UnrevokeCredentials: %w", err)
				}
				if _, err := f.s.FindBroker(f.ctx, w.a.ID, "alpha", "one"); err != nil {
					return fmt.Errorf("FindBroker: %w", err)
				}
				if _, _, err := f.s.ListCredentials(f.ctx, w.broker.ID, controlplane.Page{Page: 1, PerPage: 20}); err != nil {
					return fmt.Errorf("ListCredentials: %w", err)
				}
				if j%5 == 0 {
					b := *w.broker
					b.Description = fmt.Sprintf("%d-%d", i, j)
					if err := f.s.UpdateBroker(f.ctx, &b); err != nil {
						return fmt.Errorf("UpdateBroker: %w", err)
					}
					if _, err := f.s.Snapshot(f.ctx, now); err != nil {
						return fmt.Errorf("Snapshot: %w", err)
					}
				}
			}
			return nil
		})
		_, total, err := f.s.ListCredentials(f.ctx, w.broker.ID, controlplane.Page{Page: 1, PerPage: 1})
		ok(t, err)
		equal(t, "credentials", total, workers*rounds*10)
		_, total, err = f.s.ListRevocations(f.ctx, w.broker.ID, now, controlplane.Page{Page: 1, PerPage: 1})
		ok(t, err)
		equal(t, "revocations", total, workers*rounds)
	}},
	// Concurrent revocations of one broker never exceed the limit.
	{"RevocationLimitExact", func(t *testing.T, f *fixture) {
		w := f.world()
		const workers, limit = 8, 10
		jtis := f.credentials(w.broker, workers*3, nil)
		parallel(t, workers, func(i int) error {
			for k := range 3 {
				err := f.s.RevokeCredentials(f.ctx, w.broker.ID, jtis[i*3+k:i*3+k+1], now, limit)
				if err != nil && controlplane.ErrorCode(err) != controlplane.EREVOCATIONLIMIT {
					return err
				}
			}
			return nil
		})
		equal(t, "revocations", len(f.listRevoked(w.broker.ID, now)), limit)
	}},
}
