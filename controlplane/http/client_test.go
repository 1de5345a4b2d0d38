package http_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/testenv"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// clientResult is a connected client as the API returns it.
type clientResult struct {
	ClientID      string   `json:"client_id"`
	JTI           string   `json:"jti"`
	Node          string   `json:"node"`
	Transport     string   `json:"transport"`
	RemoteAddr    string   `json:"remote_addr"`
	ConnectedAt   string   `json:"connected_at"`
	Subscriptions []string `json:"subscriptions"`
	Subscribed    int      `json:"subscribed"`
	Inflight      int      `json:"inflight"`
	MessagesIn    *int64   `json:"messages_in"`
	MessagesOut   *int64   `json:"messages_out"`
}

func i64(v int64) *int64 { return &v }

// report posts a node's clients report and returns the answer.
func (a *api) report(t *testing.T, nodeToken string, rep clients.Report) response {
	t.Helper()
	body, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return a.doWith("POST", a.srv.URL+clients.Path, string(body), map[string]string{"Authorization": "Bearer " + nodeToken})
}

// TestClients covers the connected-clients API: nodes report, the API
// lists a broker's clients across nodes (search, pages), an account never
// sees or disconnects another account's clients, a disconnection reaches
// the node in its next answer, and a silent node's clients disappear.
func TestClients(t *testing.T) {
	a := newAPI(t, testenv.OpenStore(t, "sqlite"))
	a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
	var ba, bb brokerResult
	a.do("POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "TOKEN"}`).ok(t, &ba)
	other := *a
	other.acct = a.newAccount("other@example.com")
	other.do("POST", "/namespaces", `{"name": "ns-b"}`).ok(t, nil)
	other.do("POST", "/namespaces/ns-b/brokers", `{"name": "b", "authType": "TOKEN"}`).ok(t, &bb)

	ctx := context.Background()
	tok1, err := a.svc.CreateNodeToken(ctx, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := a.svc.CreateNodeToken(ctx, "node-2")
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	cl := func(broker, id, remote string) clients.Client {
		return clients.Client{BrokerID: broker, ClientID: id, JTI: "jti-" + id, Transport: "mqtts", Remote: remote, ConnectedAt: since, Subscriptions: []string{"a/#"}, Subscribed: 1,
			MessagesIn: i64(int64(len(remote))), MessagesOut: i64(7)}
	}
	var ans clients.Answer
	a.report(t, tok1, clients.Report{Time: since, IntervalMS: 1000, Clients: []clients.Client{cl(ba.ID, "dev-2", "10.0.0.2:1"), cl(ba.ID, "dev-1", "10.0.0.1:1"), cl(bb.ID, "secret-of-b", "10.9.9.9:1")}}).ok(t, &ans)
	if len(ans.Disconnect) != 0 {
		t.Fatalf("first answer: %+v", ans)
	}
	a.report(t, tok2, clients.Report{Time: since, IntervalMS: 1000, Clients: []clients.Client{cl(ba.ID, "dev-1", "10.0.0.3:1")}}).ok(t, nil)

	t.Run("List", func(t *testing.T) {
		var list []clientResult
		r := a.do("GET", "/namespaces/ns/brokers/b/clients", "")
		r.ok(t, &list)
		if len(list) != 3 || r.ResultInfo.TotalCount != 3 {
			t.Fatalf("got %+v", list)
		}
		want := []struct{ id, node string }{{"dev-1", "node-1"}, {"dev-1", "node-2"}, {"dev-2", "node-1"}}
		for i, w := range want {
			if list[i].ClientID != w.id || list[i].Node != w.node {
				t.Errorf("[%d] = %s on %s, want %s on %s", i, list[i].ClientID, list[i].Node, w.id, w.node)
			}
		}
		if c := list[0]; c.JTI != "jti-dev-1" || c.Transport != "mqtts" || c.RemoteAddr != "10.0.0.1:1" || parseTime(t, c.ConnectedAt) != since || c.Subscribed != 1 || len(c.Subscriptions) != 1 ||
			c.MessagesIn == nil || *c.MessagesIn != int64(len("10.0.0.1:1")) || c.MessagesOut == nil || *c.MessagesOut != 7 {
			t.Errorf("client: %+v", c)
		}
	})
	t.Run("SearchAndPages", func(t *testing.T) {
		var list []clientResult
		a.do("GET", "/namespaces/ns/brokers/b/clients?search=10.0.0.3", "").ok(t, &list)
		if len(list) != 1 || list[0].Node != "node-2" {
			t.Fatalf("search by address: %+v", list)
		}
		a.do("GET", "/namespaces/ns/brokers/b/clients?search=DEV-2", "").ok(t, &list)
		if len(list) != 1 || list[0].ClientID != "dev-2" {
			t.Fatalf("search by client id: %+v", list)
		}
		r := a.do("GET", "/namespaces/ns/brokers/b/clients?per_page=2&page=2", "")
		r.ok(t, &list)
		if len(list) != 1 || list[0].ClientID != "dev-2" || r.ResultInfo.TotalCount != 3 {
			t.Fatalf("page 2: %+v", list)
		}
	})
	t.Run("OtherAccount", func(t *testing.T) {
		// B sees only its own client, under its own names.
		var list []clientResult
		other.do("GET", "/namespaces/ns-b/brokers/b/clients", "").ok(t, &list)
		if len(list) != 1 || list[0].ClientID != "secret-of-b" {
			t.Fatalf("account B sees %+v", list)
		}
		// B's credentials on A's account: refused, for listing and disconnecting.
		hdr := map[string]string{"Authorization": "Bearer " + other.acct.APIToken}
		other.doWith("GET", a.base()+"/namespaces/ns/brokers/b/clients", "", hdr).fails(t, 403, 10002, "do not grant access to account")
		other.doWith("POST", a.base()+"/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "dev-1"}`, hdr).fails(t, 403, 10002, "do not grant access to account")
		// Nor can B mint itself the credential the console's live and
		// retained views read A's messages with.
		other.doWith("POST", a.base()+"/namespaces/ns/brokers/b/credentials?subscribeAcl=%23", "", hdr).fails(t, 403, 10002, "do not grant access to account")
		// A cannot disconnect B's client through its own broker.
		a.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "secret-of-b"}`).fails(t, 404, 10020, "not connected")
		a.do("GET", "/namespaces/ns/brokers/nope/clients", "").fails(t, 404, 10020, "not found")
	})
	t.Run("Disconnect", func(t *testing.T) {
		a.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "dev-1"}`).ok(t, nil)
		a.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{}`).fails(t, 400, 10012, "client_id")
		a.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "gone"}`).fails(t, 404, 10020, "not connected")
		// Both nodes that have dev-1 get the request, once.
		for i, tc := range []struct {
			tok  string
			want int
		}{{tok1, 1}, {tok2, 1}, {tok1, 0}} {
			var ans clients.Answer
			a.report(t, tc.tok, clients.Report{Time: since, IntervalMS: 1000}).ok(t, &ans)
			if len(ans.Disconnect) != tc.want || (tc.want == 1 && (ans.Disconnect[0].ClientID != "dev-1" || ans.Disconnect[0].BrokerID != ba.ID)) {
				t.Fatalf("report %d: answer %+v", i, ans)
			}
		}
	})
	t.Run("ErrSSEOnly", func(t *testing.T) {
		stream := cl(ba.ID, "reader", "10.0.0.9:1")
		stream.Transport = clients.TransportSSE
		stream.MessagesIn, stream.MessagesOut = nil, nil
		a.report(t, tok1, clients.Report{Time: since, IntervalMS: 1000, Clients: []clients.Client{stream}}).ok(t, nil)
		var list []clientResult
		a.do("GET", "/namespaces/ns/brokers/b/clients?search=reader", "").ok(t, &list)
		if len(list) != 1 || list[0].Transport != "sse" || list[0].MessagesIn != nil || list[0].MessagesOut != nil {
			t.Fatalf("got %+v", list)
		}
		a.do("POST", "/namespaces/ns/brokers/b/clients/disconnect", `{"client_id": "reader"}`).fails(t, 400, 10012, "revoke its token")
	})
	t.Run("Stale", func(t *testing.T) {
		a.report(t, tok1, clients.Report{Time: since, IntervalMS: 1000, Clients: []clients.Client{cl(ba.ID, "dev-1", "10.0.0.1:1")}}).ok(t, nil)
		a.clock.advance(4 * time.Second) // node-1's report is valid for 3 intervals
		var list []clientResult
		a.do("GET", "/namespaces/ns/brokers/b/clients", "").ok(t, &list)
		if len(list) != 0 {
			t.Fatalf("a silent node's clients are still listed: %+v", list)
		}
	})
	t.Run("ErrNodeAuth", func(t *testing.T) {
		a.doWith("POST", a.srv.URL+clients.Path, `{"interval_ms": 1000, "clients": []}`, nil).fails(t, 403, 10000, "Bearer <node token>")
		a.doWith("POST", a.srv.URL+clients.Path, `{"interval_ms": 1000, "clients": []}`, map[string]string{"Authorization": "Bearer " + a.acct.APIToken}).fails(t, 403, 10001, "node token is not valid")
		a.report(t, tok1, clients.Report{IntervalMS: 0}).fails(t, 400, 10012, "interval_ms")
		a.doWith("POST", a.srv.URL+clients.Path, `{"interval_ms": "x"}`, map[string]string{"Authorization": "Bearer " + tok1}).fails(t, 400, 10012, "interval_ms")
	})
}

// statsResult is a broker's counters as the API returns them.
type statsResult struct {
	Nodes []struct {
		Node    string `json:"node"`
		Samples []struct {
			Time        string `json:"time"`
			Connections int64  `json:"connections"`
			MessagesIn  int64  `json:"messages_in"`
			MessagesOut int64  `json:"messages_out"`
			Dropped     int64  `json:"dropped"`
			Refused     int64  `json:"refused"`
			Denied      int64  `json:"denied"`
			Hook        *struct {
				Requests      map[string]int64 `json:"requests"`
				Changed       int64            `json:"changed"`
				DroppedByHook int64            `json:"dropped_by_hook"`
			} `json:"hook"`
		} `json:"samples"`
	} `json:"nodes"`
}

// TestBrokerStats covers the counters nodes report with their clients:
// the API keeps the last StatsSamples per node and broker, oldest first,
// and an account sees only its own brokers' counters.
func TestBrokerStats(t *testing.T) {
	a := newAPI(t, testenv.OpenStore(t, "sqlite"))
	a.do("POST", "/namespaces", `{"name": "ns"}`).ok(t, nil)
	var ba, bb brokerResult
	a.do("POST", "/namespaces/ns/brokers", `{"name": "b", "authType": "TOKEN"}`).ok(t, &ba)
	other := *a
	other.acct = a.newAccount("other@example.com")
	other.do("POST", "/namespaces", `{"name": "ns-b"}`).ok(t, nil)
	other.do("POST", "/namespaces/ns-b/brokers", `{"name": "b", "authType": "TOKEN"}`).ok(t, &bb)
	tok, err := a.svc.CreateNodeToken(context.Background(), "node-1")
	if err != nil {
		t.Fatal(err)
	}

	var st statsResult
	a.do("GET", "/namespaces/ns/brokers/b/stats", "").ok(t, &st)
	if len(st.Nodes) != 0 {
		t.Fatalf("stats before any report: %+v", st)
	}
	n := 2*controlplane.StatsSamples + 5
	for i := range n {
		a.report(t, tok, clients.Report{IntervalMS: 1000, Brokers: []clients.BrokerStats{
			{BrokerID: ba.ID, Connections: 3, MessagesIn: int64(i), MessagesOut: int64(2 * i), Dropped: 1, Refused: 2, Denied: 4},
			{BrokerID: bb.ID, MessagesIn: 1000, Hook: &clients.HookStats{Requests: map[string]int64{"ok": int64(i), "timeout": 1}, Changed: 2, DroppedByHook: 3}},
		}}).ok(t, nil)
	}
	a.do("GET", "/namespaces/ns/brokers/b/stats", "").ok(t, &st)
	if len(st.Nodes) != 1 || st.Nodes[0].Node != "node-1" || len(st.Nodes[0].Samples) != controlplane.StatsSamples {
		t.Fatalf("stats: %d nodes, %+v", len(st.Nodes), st)
	}
	s := st.Nodes[0].Samples
	if first, last := s[0], s[len(s)-1]; first.MessagesIn != int64(n-controlplane.StatsSamples) || last.MessagesIn != int64(n-1) ||
		last.MessagesOut != int64(2*(n-1)) || last.Connections != 3 || last.Dropped != 1 || last.Refused != 2 || last.Denied != 4 {
		t.Errorf("first %+v, last %+v", first, last)
	}
	parseTime(t, s[0].Time)
	if last := s[len(s)-1]; last.Hook != nil {
		t.Errorf("a broker without a hook has hook counters: %+v", last.Hook)
	}

	other.do("GET", "/namespaces/ns-b/brokers/b/stats", "").ok(t, &st)
	if len(st.Nodes) != 1 || st.Nodes[0].Samples[0].MessagesIn != 1000 {
		t.Fatalf("account B's stats: %+v", st)
	}
	if h := st.Nodes[0].Samples[len(st.Nodes[0].Samples)-1].Hook; h == nil || h.Requests["ok"] != int64(n-1) || h.Requests["timeout"] != 1 || h.Changed != 2 || h.DroppedByHook != 3 {
		t.Fatalf("account B's hook counters: %+v", h)
	}
	other.doWith("GET", a.base()+"/namespaces/ns/brokers/b/stats", "", map[string]string{"Authorization": "Bearer " + other.acct.APIToken}).fails(t, 403, 10002, "do not grant access to account")
	a.do("GET", "/namespaces/ns-b/brokers/b/stats", "").fails(t, 404, 10020, "not found")
}
