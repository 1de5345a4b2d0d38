package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/clients"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestClientsList lists the node's connected clients across brokers, and
// disconnects one by client id with DISCONNECT 0x98.
func TestClientsList(t *testing.T) {
	e := newEnv(t, node.Limits{}, "b1", "b2")
	before := time.Now()
	c1, cl1 := e.mustConnect("b1")
	if _, err := c1.subscribe(t, "a/#", 1); err != nil {
		t.Fatal(err)
	}
	_, cl2 := e.mustConnect("b2")
	// Two messages in, one out (its own, through its subscription).
	if _, err := c1.publish(t, "a/x", 1, "one"); err != nil {
		t.Fatal(err)
	}
	c1.expectMessage(t, "a/x", "one")
	if _, err := c1.publish(t, "b", 1, "two"); err != nil {
		t.Fatal(err)
	}

	var got []clients.Client
	eventually(t, "both clients listed with c1's subscription and counters", func() bool {
		got = e.node.Clients()
		for _, c := range got {
			if c.ClientID == cl1.Subject && c.Subscribed == 1 && c.MessagesIn != nil && *c.MessagesIn == 2 {
				return len(got) == 2
			}
		}
		return false
	})
	by := map[string]clients.Client{}
	for _, c := range got {
		by[c.ClientID] = c
	}
	if c := by[cl1.Subject]; c.BrokerID != "b1" || c.JTI != cl1.ID || c.Transport != "mqtts" || c.Remote == "" ||
		c.ConnectedAt.Before(before.Add(-time.Second)) || len(c.Subscriptions) != 1 || c.Subscriptions[0] != "a/#" {
		t.Errorf("c1: %+v", c)
	}
	if c := by[cl1.Subject]; c.MessagesIn == nil || c.MessagesOut == nil || *c.MessagesIn != 2 || *c.MessagesOut != 1 {
		t.Errorf("c1's counters: in %v, out %v; want 2 and 1", c.MessagesIn, c.MessagesOut)
	}
	if c := by[cl2.Subject]; c.BrokerID != "b2" || c.JTI != cl2.ID || c.Subscribed != 0 || len(c.Subscriptions) != 0 ||
		c.MessagesIn == nil || *c.MessagesIn != 0 || *c.MessagesOut != 0 {
		t.Errorf("c2: %+v", c)
	}

	if n := e.node.Disconnect("b2", cl1.Subject); n != 0 {
		t.Errorf("disconnected %d clients of another broker", n)
	}
	if n := e.node.Disconnect("nope", cl1.Subject); n != 0 {
		t.Errorf("disconnected %d clients of an unknown broker", n)
	}
	if n := e.node.Disconnect("b1", cl1.Subject); n != 1 {
		t.Fatalf("disconnected %d, want 1", n)
	}
	c1.expectDisconnect(t, 0x98)
	if got := e.metric(`pubsub_disconnects_total{broker="` + e.brokers["b1"].host + `",reason="operator"}`); got != 1 {
		t.Errorf("operator disconnects = %d, want 1", got)
	}
	eventually(t, "c1 gone from the list", func() bool {
		got = e.node.Clients()
		return len(got) == 1 && got[0].ClientID == cl2.Subject
	})
}

// TestReportClients runs the node's reporter against a stand-in control
// plane: the reports carry the node token, the connected clients and the
// brokers' counters, and a disconnection in an answer disconnects the
// client.
func TestReportClients(t *testing.T) {
	e := newEnv(t, node.Limits{}, "b1")
	c, cl := e.mustConnect("b1")
	if _, err := c.publish(t, "t", 1, "hello"); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		reports  []clients.Report
		auth     string
		asked    bool
		sawStats bool
	)
	cp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep clients.Report
		if r.Method != http.MethodPost || r.URL.Path != clients.Path || json.NewDecoder(r.Body).Decode(&rep) != nil {
			http.Error(w, "bad report", http.StatusBadRequest)
			return
		}
		mu.Lock()
		reports, auth = append(reports, rep), r.Header.Get("Authorization")
		ans := clients.Answer{Disconnect: []clients.Target{}}
		for _, st := range rep.Brokers {
			sawStats = sawStats || (st.BrokerID == "b1" && st.Connections == 1 && st.MessagesIn == 1)
		}
		if len(rep.Clients) == 1 && rep.Clients[0].JTI == cl.ID && !asked {
			ans.Disconnect = append(ans.Disconnect, clients.Target{BrokerID: "b1", ClientID: cl.Subject})
			asked = true
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"result": ans, "success": true, "errors": []any{}, "messages": []any{}})
	}))
	defer cp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.node.ReportClients(ctx, cp.URL, "psn_test", 20*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()

	c.expectDisconnect(t, 0x98)
	eventually(t, "a report without the disconnected client", func() bool {
		mu.Lock()
		defer mu.Unlock()
		last := reports[len(reports)-1]
		return len(last.Clients) == 0 && last.IntervalMS == 20
	})
	mu.Lock()
	defer mu.Unlock()
	if auth != "Bearer psn_test" {
		t.Errorf("Authorization %q", auth)
	}
	if !asked {
		t.Error("no report listed the client")
	}
	if !sawStats {
		t.Errorf("no report had b1's counters (1 connection, 1 message in): %+v", reports[0].Brokers)
	}
	// The report is streamed client by client: the same JSON fields.
	if first := reports[0]; first.Time.IsZero() || first.IntervalMS != 20 || len(first.Clients) != 1 ||
		first.Clients[0].ClientID != cl.Subject || first.Clients[0].Transport != clients.TransportMQTTS || first.Clients[0].ConnectedAt.IsZero() {
		t.Errorf("first report = %+v", first)
	}
}

// TestClientsListSSE lists an open SSE stream with its filters, as
// transport "sse", and not once its revoked token has ended it.
func TestClientsListSSE(t *testing.T) {
	e := newEnv(t, node.Limits{}, "b1")
	tok, claims := e.brokers["b1"].token(t, nil)
	e.subscribeSSE("b1", "topic=s/1&topic=t/%23", tok, nil)
	got := e.node.Clients()
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	if c := got[0]; c.BrokerID != "b1" || c.Transport != "sse" || c.ClientID != claims.Subject || c.JTI != claims.ID ||
		c.Remote == "" || c.ConnectedAt.IsZero() || c.Subscribed != 2 || len(c.Subscriptions) != 2 || c.MessagesIn != nil || c.MessagesOut != nil {
		t.Errorf("stream: %+v", c)
	}
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "b1", Revocation: &feed.Revocation{JTI: claims.ID}})
	eventually(t, "the ended stream gone from the list", func() bool { return len(e.node.Clients()) == 0 })
}

// TestClientsListWebSocket lists an MQTT session over WebSocket as
// transport "websocket", and disconnects it like any other.
func TestClientsListWebSocket(t *testing.T) {
	e := newEnv(t, node.Limits{}, "b1")
	tok, claims := e.brokers["b1"].token(t, nil)
	c := e.connectWSWith("b1", tok)
	var got []clients.Client
	eventually(t, "the WebSocket session listed", func() bool {
		got = e.node.Clients()
		return len(got) == 1
	})
	if g := got[0]; g.Transport != clients.TransportWebSocket || g.ClientID != claims.Subject || g.JTI != claims.ID {
		t.Errorf("got %+v", g)
	}
	if n := e.node.Disconnect("b1", claims.Subject); n != 1 {
		t.Fatalf("disconnected %d, want 1", n)
	}
	c.expectDisconnect(t, 0x98)
}
