package http_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/controlplane/postgres"
	"github.com/openpubsub/pubsub/controlplane/sqlite"
	"github.com/openpubsub/pubsub/internal/pgtest"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// openTwice opens two stores on one new database of kind, as two
// control-plane processes would.
func openTwice(t *testing.T, kind string) (controlplane.Store, controlplane.Store) {
	t.Helper()
	ctx := context.Background()
	var open func() (controlplane.Store, error)
	switch kind {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "pubsub.db")
		open = func() (controlplane.Store, error) { return sqlite.Open(ctx, path) }
	case "postgres":
		url := pgtest.New(t)
		open = func() (controlplane.Store, error) { return postgres.Open(ctx, url) }
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	var st [2]controlplane.Store
	for i := range st {
		s, err := open()
		if err != nil {
			t.Fatalf("open %s store: %v", kind, err)
		}
		t.Cleanup(func() { s.Close() })
		st[i] = s
	}
	return st[0], st[1]
}

// peer is a second control plane on st, the same database as a's, with
// a's clock and account.
func (a *api) peer(t *testing.T, st controlplane.Store) *api {
	t.Helper()
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: testDomain, KEK: testenv.KEK, RevocationLimit: 5, Now: a.clock.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := cphttp.NewServer(svc, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	p := *a
	p.srv, p.srvAPI, p.svc = srv, h, svc
	return &p
}

// TestClientsTwoControlPlanes runs two control planes on one database,
// as behind a load balancer: a node reports to one, and the other lists
// its clients and counters and queues a disconnection, which the node's
// next report, to the first, carries back; the silent node's clients
// leave both lists.
func TestClientsTwoControlPlanes(t *testing.T) {
	for _, kind := range testenv.StoreKinds {
		t.Run(kind, func(t *testing.T) {
			st1, st2 := openTwice(t, kind)
			a := newAPI(t, st1)
			b := a.peer(t, st2)
			var br brokerResult
			a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
			a.do("POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "TOKEN"}`).ok(t, &br)
			tok, err := a.svc.CreateNodeToken(context.Background(), "node-1")
			if err != nil {
				t.Fatal(err)
			}
			dev := clients.Client{BrokerID: br.ID, ClientID: "dev-1", JTI: "jti-1", Transport: "mqtts", Remote: "10.0.0.1:1",
				ConnectedAt: time.Now().UTC(), MessagesIn: i64(3), MessagesOut: i64(4)}
			rep := clients.Report{IntervalMS: 1000, Clients: []clients.Client{dev},
				Brokers: []clients.BrokerStats{{BrokerID: br.ID, Connections: 1, MessagesIn: 3, Hook: &clients.HookStats{Requests: map[string]int64{"ok": 3}, Passed: 3}}}}
			a.report(t, tok, rep).ok(t, nil)

			var list []clientResult
			b.do("GET", "/namespaces/ns/brokers/b/clients", "").ok(t, &list)
			if len(list) != 1 || list[0].ClientID != "dev-1" || list[0].Node != "node-1" || *list[0].MessagesOut != 4 {
				t.Fatalf("the other control plane lists %+v", list)
			}
			var st statsResult
			b.do("GET", "/namespaces/ns/brokers/b/stats", "").ok(t, &st)
			if len(st.Nodes) != 1 || len(st.Nodes[0].Samples) != 1 || st.Nodes[0].Samples[0].Hook == nil || st.Nodes[0].Samples[0].Hook.Requests["ok"] != 3 {
				t.Fatalf("the other control plane's stats: %+v", st)
			}

			b.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "dev-1"}`).ok(t, nil)
			var ans clients.Answer
			a.report(t, tok, rep).ok(t, &ans)
			if len(ans.Disconnect) != 1 || ans.Disconnect[0] != (clients.Target{BrokerID: br.ID, ClientID: "dev-1"}) {
				t.Fatalf("the node's answer from the first control plane: %+v", ans)
			}
			b.report(t, tok, rep).ok(t, &ans)
			if len(ans.Disconnect) != 0 {
				t.Fatalf("the disconnection was answered twice: %+v", ans)
			}

			a.clock.advance(4 * time.Second) // 3 intervals without a report
			for _, cp := range []*api{a, b} {
				cp.do("GET", "/namespaces/ns/brokers/b/clients", "").ok(t, &list)
				cp.do("GET", "/namespaces/ns/brokers/b/stats", "").ok(t, &st)
				if len(list) != 0 || len(st.Nodes) != 0 {
					t.Fatalf("a silent node is still listed: %+v, %+v", list, st)
				}
			}
		})
	}
}
