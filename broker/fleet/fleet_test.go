package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/fleet"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// latest records the States a client applies.
type latest struct {
	mu sync.Mutex
	st *broker.State
	n  int
}

func (l *latest) apply(st *broker.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st, l.n = st, l.n+1
}

// waitFor polls until cond holds for the latest State, or fails after 5 s.
func (l *latest) waitFor(t *testing.T, what string, cond func(*broker.State) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		l.mu.Lock()
		st := l.st
		l.mu.Unlock()
		if cond(st) {
			return time.Since(start)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return 0
}

// controlPlane starts a control plane on port 0 with the embedded store in dir.
func controlPlane(t *testing.T, dir, addr string) *app.ControlPlane {
	t.Helper()
	cp, err := app.StartControlPlane(context.Background(), app.ControlPlaneConfig{
		Addr: addr, Store: app.StoreConfig{DataDir: dir}, Domain: "pubsub.test", KEK: testenv.KEK,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp
}

// runClient runs a client until the returned stop function (or the test's
// end) cancels it and waits for it to finish.
func runClient(t *testing.T, cfg fleet.Config) (*latest, func()) {
	t.Helper()
	c, err := fleet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &latest{}
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, l.apply) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return l, stop
}

func TestFollowFeed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cp := controlPlane(t, dir, "127.0.0.1:0")
	svc := cp.Service
	na, err := svc.CreateAccount(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	acct := na.Account.ID
	if _, err := svc.CreateNamespace(ctx, acct, "ns", ""); err != nil {
		t.Fatal(err)
	}
	b1, err := svc.CreateBroker(ctx, acct, "ns", controlplane.BrokerInput{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	nodeToken, err := svc.CreateNodeToken(ctx, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "config.json")
	l, stop := runClient(t, fleet.Config{URL: "http://" + cp.Addr(), Token: nodeToken, CacheFile: cache})

	// The snapshot holds the broker with its two keys.
	l.waitFor(t, "the snapshot", func(st *broker.State) bool {
		b := st.BrokerByHostname("one.ns.pubsub.test")
		return b != nil && len(b.Keys) == 2
	})

	// Every kind of change arrives as it commits.
	minted, err := svc.MintCredentials(ctx, acct, "ns", "one", controlplane.MintRequest{Number: 2})
	if err != nil {
		t.Fatal(err)
	}
	creds, _, err := svc.ListCredentials(ctx, acct, "ns", "one", controlplane.Page{Page: 1, PerPage: 10})
	if err != nil || len(creds) != len(minted) {
		t.Fatal(err)
	}
	jti := creds[0].JTI
	start := time.Now()
	if err := svc.Revoke(ctx, acct, "ns", "one", []string{jti}); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the revocation", func(st *broker.State) bool { return st.Broker(b1.ID).Revoked(jti) })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a revocation took %v to reach the node; the limit is 1 s", d)
	}
	if err := svc.Unrevoke(ctx, acct, "ns", "one", []string{jti}); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the unrevocation", func(st *broker.State) bool { return !st.Broker(b1.ID).Revoked(jti) })

	keys, err := svc.RotateKeys(ctx, acct, "ns", "one")
	if err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the rotation", func(st *broker.State) bool { return len(st.Broker(b1.ID).Keys) == 3 })
	retired := keys[2].ID
	if err := svc.DeleteKey(ctx, acct, "ns", "one", retired); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the key removal", func(st *broker.State) bool {
		_, ok := st.Broker(b1.ID).Keys[retired]
		return !ok && len(st.Broker(b1.ID).Keys) == 2
	})

	exp := int64(60)
	if _, err := svc.UpdateBroker(ctx, acct, "ns", "one", controlplane.BrokerUpdate{SetExpiration: true, Expiration: &exp}); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the broker update", func(st *broker.State) bool { return st.Broker(b1.ID).Expiration == time.Minute })

	b2, err := svc.CreateBroker(ctx, acct, "ns", controlplane.BrokerInput{Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the new broker", func(st *broker.State) bool { return st.Broker(b2.ID) != nil })
	if err := svc.DeleteBroker(ctx, acct, "ns", "two"); err != nil {
		t.Fatal(err)
	}
	l.waitFor(t, "the deletion", func(st *broker.State) bool { return st.Broker(b2.ID) == nil && st.Len() == 1 })

	// The control plane goes down: a new client serves from the cache alone.
	stop()
	addr := cp.Addr()
	cp.Close()
	l2, _ := runClient(t, fleet.Config{URL: "http://" + addr, Token: nodeToken, CacheFile: cache})
	l2.waitFor(t, "the cached state", func(st *broker.State) bool {
		b := st.Broker(b1.ID)
		return b != nil && b.Expiration == time.Minute && st.Len() == 1
	})

	// Changes made while it is down arrive once it is back, on the same address.
	cp2 := controlPlane(t, dir, addr)
	if _, err := cp2.Service.CreateBroker(ctx, acct, "ns", controlplane.BrokerInput{Name: "three"}); err != nil {
		t.Fatal(err)
	}
	l2.waitFor(t, "the change made while the node was cut off", func(st *broker.State) bool {
		return st.BrokerByHostname("three.ns.pubsub.test") != nil && st.Len() == 2
	})
}

func TestBadNodeToken(t *testing.T) {
	cp := controlPlane(t, t.TempDir(), "127.0.0.1:0")
	c, err := fleet.New(fleet.Config{URL: "http://" + cp.Addr(), Token: "psn_wrong", MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	applied := 0
	if err := c.Run(ctx, func(*broker.State) { applied++ }); err != context.DeadlineExceeded || applied != 0 {
		t.Fatalf("a bad token must apply nothing: err %v, %d states", err, applied)
	}
	if _, err := fleet.New(fleet.Config{URL: "ftp://x", Token: "t"}); err == nil {
		t.Fatal("a non-HTTP URL must be refused")
	}
}

// TestNodeAheadOfControlPlane gives the node a cache from another history
// (a revision the control plane never wrote): the feed answers with a full
// snapshot instead of waiting for that revision to come round.
func TestNodeAheadOfControlPlane(t *testing.T) {
	ctx := context.Background()
	cp := controlPlane(t, t.TempDir(), "127.0.0.1:0")
	na, err := cp.Service.CreateAccount(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Service.CreateNamespace(ctx, na.Account.ID, "ns", ""); err != nil {
		t.Fatal(err)
	}
	b, err := cp.Service.CreateBroker(ctx, na.Account.ID, "ns", controlplane.BrokerInput{Name: "real"})
	if err != nil {
		t.Fatal(err)
	}
	nodeToken, err := cp.Service.CreateNodeToken(ctx, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cache, []byte(`{"type":"snapshot","revision":999,"brokers":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	l, _ := runClient(t, fleet.Config{URL: "http://" + cp.Addr(), Token: nodeToken, CacheFile: cache})
	l.waitFor(t, "the snapshot replacing the foreign cache", func(st *broker.State) bool {
		return st.Broker(b.ID) != nil && st.Revision() < 999
	})
}
