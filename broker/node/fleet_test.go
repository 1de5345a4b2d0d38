package node_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
	"github.com/openpubsub/pubsub/broker/node"
)

// fleet is two nodes serving the same brokers, joined by NATS.
type fleet struct {
	nats   *natstest.Cluster
	base   *env              // a node without NATS, for comparison
	n1, n2 *env              // the same brokers and certificates, each dialing its node
	store  *natsbus.Sessions // the fleet's session store, read by the test (fleetsession_test.go)
	edit   func(*node.Config)
}

// newFleet starts an env without NATS for the certificates and brokers,
// then two nodes of a fleet: node 1 on the first NATS server, node 2 on
// the last.
func newFleet(t testing.TB, servers int, edit func(*node.Config), ids ...string) *fleet {
	t.Helper()
	f := &fleet{base: newEnv(t, node.Limits{}, ids...), nats: natstest.Start(t, servers), edit: edit}
	f.n1 = f.join(t, f.nats.URL(0), "node-1")
	f.n2 = f.join(t, f.nats.URL(servers-1), "node-2")
	return f
}

// join starts one more node of the fleet, dialing the NATS server at
// url, and waits until it is connected.
func (f *fleet) join(t testing.TB, url, nodeID string) *env {
	t.Helper()
	n := f.base.startNodeWith(func(cfg *node.Config) {
		cfg.NATS = &natsbus.Config{URL: url, NodeID: nodeID}
		if f.edit != nil {
			f.edit(cfg)
		}
	})
	e := *f.base
	e.useNode(n)
	natstest.Poll(t, nodeID+" to connect", func() bool { return e.metric("pubsub_fleet_nats_connected") == 1 })
	return &e
}

// waitInterest waits until the NATS server of node 1 knows that a node
// wants topic of broker id.
func (f *fleet) waitInterest(t testing.TB, id, topic string) {
	t.Helper()
	subj, err := natsbus.TopicSubject(natsbus.Root("pubsub", id), topic)
	if err != nil {
		t.Fatal(err)
	}
	f.nats.WaitInterest(t, 0, subj)
}

func TestFleetCrossNodeDelivery(t *testing.T) {
	f := newFleet(t, 3, nil, "a", "b")
	sub, _ := f.n2.mustConnect("a")
	if _, err := sub.subscribe(t, "room/+", 1); err != nil {
		t.Fatal(err)
	}
	ws := f.n2.connectWS("a")
	if _, err := ws.subscribe(t, "room/#", 0); err != nil {
		t.Fatal(err)
	}
	other, _ := f.n2.mustConnect("b") // another broker: gets nothing
	if _, err := other.subscribe(t, "#", 0); err != nil {
		t.Fatal(err)
	}
	local, _ := f.n1.mustConnect("a") // on the publisher's node: once, no echo
	if _, err := local.subscribe(t, "room/#", 1); err != nil {
		t.Fatal(err)
	}
	f.waitInterest(t, "a", "room/1")
	// SSE streams follow the broker's journal, a JetStream stream that
	// is itself an interest in every topic of the broker: open it once
	// the MQTT subscribers' interest is known.
	tok, _ := f.n2.brokers["a"].token(t, nil)
	sse := f.n2.subscribeSSE("a", "topic=room/%2B", tok, nil)

	pub, _ := f.n1.mustConnect("a")
	if _, err := pub.publish(t, "room/1", 1, "over MQTT"); err != nil {
		t.Fatal(err)
	}
	ptok, _ := f.n1.brokers["a"].token(t, nil)
	f.n1.publishHTTP("a", ptok, "topic=room/2", "over HTTP")
	for i := range 20 { // order from one publisher
		if _, err := pub.publish(t, "room/1", 0, "n"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}

	// Two publishers: their messages may come in either order.
	firstTwo := func(t *testing.T, next func() string) {
		t.Helper()
		if a, b := next(), next(); !(a == "over MQTT" && b == "over HTTP" || a == "over HTTP" && b == "over MQTT") {
			t.Fatalf("got %q and %q, want the MQTT and the HTTP publish", a, b)
		}
	}
	for name, c := range map[string]*client{"MQTT": sub, "WebSocket": ws, "local": local} {
		t.Run(name, func(t *testing.T) {
			firstTwo(t, func() string {
				select {
				case m := <-c.msgs:
					return string(m.Payload)
				case <-time.After(waitFor):
					t.Fatal("no message")
					return ""
				}
			})
			for i := range 20 {
				c.expectMessage(t, "room/1", "n"+string(rune('a'+i)))
			}
		})
	}
	t.Run("SSE", func(t *testing.T) {
		firstTwo(t, func() string { return sse.next(t).data })
		for i := range 20 {
			sse.expect(t, "n"+string(rune('a'+i)))
		}
	})
	// Another broker's subscriber, and the local one, got nothing more.
	f.n2.brokers["b"].token(t, nil)
	bpub, _ := f.n2.mustConnect("b")
	if _, err := bpub.publish(t, "marker", 1, "b marker"); err != nil {
		t.Fatal(err)
	}
	other.expectNoMessageBefore(t, "b marker")
	if _, err := pub.publish(t, "room/1", 1, "a marker"); err != nil {
		t.Fatal(err)
	}
	local.expectNoMessageBefore(t, "a marker")

	if got := f.n1.metric("pubsub_fleet_messages_published_total"); got < 23 {
		t.Errorf("node 1 published %d messages to the bus, want 23 at least", got)
	}
	if got := f.n2.metric("pubsub_fleet_messages_received_total"); got < 22 {
		t.Errorf("node 2 received %d messages from the bus, want 22 at least", got)
	}
	if _, body := f.n1.get("/readyz"); !strings.Contains(body, "nats: connected") {
		t.Errorf("/readyz = %q, want the NATS status", body)
	}
}

func TestFleetDeliveryOptions(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	sub, claims := f.n2.mustConnect("a")
	ctx := func() *paho.Subscribe {
		return &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: "r/+", QoS: 2, RetainAsPublished: true},
			{Topic: "plain/#", QoS: 0},
		}}
	}
	_ = claims
	if _, err := sub.Subscribe(t.Context(), ctx()); err != nil {
		t.Fatal(err)
	}
	f.waitInterest(t, "a", "r/x")
	f.waitInterest(t, "a", "plain")

	pub, _ := f.n1.mustConnect("a")
	if _, err := pub.Publish(t.Context(), &paho.Publish{
		Topic: "r/x", QoS: 1, Retain: true, Payload: []byte("kept"),
		Properties: &paho.PublishProperties{ContentType: "text/plain", User: paho.UserProperties{{Key: "k", Value: "v"}}},
	}); err != nil {
		t.Fatal(err)
	}
	m := <-sub.msgs
	if m.Topic != "r/x" || m.QoS != 1 || !m.Retain || m.Properties.ContentType != "text/plain" || m.Properties.User.Get("k") != "v" {
		t.Fatalf("got %+v (properties %+v), want QoS 1, retained as published, with its properties", m, m.Properties)
	}
	if _, err := pub.publish(t, "plain", 2, "downgraded"); err != nil {
		t.Fatal(err)
	}
	m = <-sub.msgs
	if m.Topic != "plain" || m.QoS != 0 || m.Retain {
		t.Fatalf("got %+v, want QoS 0 (the subscription's)", m)
	}
}

func TestFleetInterestLeavesNoStaleSubscriptions(t *testing.T) {
	// An SSE stream ends when a keep-alive finds its client gone, and its
	// subscription lingers for the replay window.
	f := newFleet(t, 1, func(cfg *node.Config) {
		cfg.Edge.KeepAlive, cfg.Edge.ReplayAge = time.Second, 10*time.Millisecond
	}, "a")
	subs := func(want int) {
		t.Helper()
		natstest.Poll(t, "NATS subscriptions of the brokers", func() bool { return f.nats.Subscriptions(t, "pubsub.") == want })
	}
	c1, _ := f.n2.mustConnect("a")
	if _, err := c1.subscribe(t, "s/+", 0); err != nil {
		t.Fatal(err)
	}
	subs(1)
	c2, _ := f.n2.mustConnect("a")
	if _, err := c2.subscribe(t, "s/+", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.subscribe(t, "s/+", 1); err != nil { // again: no new interest
		t.Fatal(err)
	}
	if _, err := c2.subscribe(t, "t/#", 0); err != nil {
		t.Fatal(err)
	}
	subs(3) // s.*, t, t.>
	if _, err := c1.Unsubscribe(t.Context(), &paho.Unsubscribe{Topics: []string{"s/+"}}); err != nil {
		t.Fatal(err)
	}
	_ = c2.Disconnect(&paho.Disconnect{})
	subs(0)

	// An SSE stream follows the broker's journal (a JetStream consumer),
	// not the broker's subjects.
	tok, _ := f.n2.brokers["a"].token(t, nil)
	sse := f.n2.subscribeSSE("a", "topic=u", tok, nil)
	subs(0)
	sse.resp.Body.Close()

	// A session kept offline keeps its interest, so that its messages
	// queue; taken over, it keeps it once.
	tok, claims := f.n2.brokers["a"].token(t, nil)
	keep := func(cp *paho.Connect) {
		cp.CleanStart = false
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: paho.Uint32(60)}
	}
	p1, _, err := f.n2.connect(f.n2.brokers["a"].host, claims.Subject, tok, keep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p1.subscribe(t, "v", 1); err != nil {
		t.Fatal(err)
	}
	subs(1)
	p2, _, err := f.n2.connect(f.n2.brokers["a"].host, claims.Subject, tok, keep)
	if err != nil {
		t.Fatal(err)
	}
	p1.expectDisconnect(t, 0x8E)
	if _, err := p2.subscribe(t, "w", 1); err != nil {
		t.Fatal(err)
	}
	subs(2)
	_ = p2.Disconnect(&paho.Disconnect{})
	subs(2)
	// A clean start drops the old session and its interest.
	p3, _, err := f.n2.connect(f.n2.brokers["a"].host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	subs(0)
	_ = p3
}

func TestNodeWithoutNATSHasNoFleet(t *testing.T) {
	e := newEnv(t, node.Limits{}, "a")
	if got := e.metric("pubsub_fleet_nats_connected"); got != -1 {
		t.Fatalf("pubsub_fleet_nats_connected = %d on a node without NATS", got)
	}
	if _, body := e.get("/readyz"); body != "ready\n" {
		t.Fatalf("/readyz = %q", body)
	}
}

func TestFleetRetainedMessages(t *testing.T) {
	f := newFleet(t, 3, nil, "a")
	host := f.n1.brokers["a"].host
	updates := func(e *env) int64 { return e.metric(`pubsub_fleet_retained_updates_total{broker="` + host + `"}`) }
	retained := func(e *env) func() bool { return func() bool { return updates(e) >= 1 } }
	f.n2.mustConnect("a") // starts the broker's server on node 2

	pub, _ := f.n1.mustConnect("a")
	if _, err := pub.Publish(t.Context(), &paho.Publish{Topic: "r/1", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "node 2 to mirror the retained message", retained(f.n2))
	sub, _ := f.n2.mustConnect("a")
	if _, err := sub.subscribe(t, "r/#", 1); err != nil {
		t.Fatal(err)
	}
	if m := <-sub.msgs; m.Topic != "r/1" || string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("got %+v, want the retained message", m)
	}

	// Node 1 is gone; a node that starts afterwards still has it.
	_ = f.n1.node.Close()
	n3 := f.n2.startNodeWith(func(cfg *node.Config) {
		cfg.NATS = &natsbus.Config{URL: f.nats.URL(1), NodeID: "node-3"}
	})
	e3 := *f.n2
	e3.useNode(n3)
	// Its first client's SUBSCRIBE waits until the server it started
	// has loaded the retained messages.
	late, _ := e3.mustConnect("a")
	if _, err := late.subscribe(t, "r/+", 0); err != nil {
		t.Fatal(err)
	}
	if m := <-late.msgs; m.Topic != "r/1" || string(m.Payload) != "kept" || !m.Retain {
		t.Fatalf("got %+v, want the retained message", m)
	}

	// An empty retained publish on node 3 deletes it everywhere.
	if _, err := late.Publish(t.Context(), &paho.Publish{Topic: "r/1", QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	natstest.Poll(t, "node 2 to drop the retained message", func() bool {
		return updates(f.n2) >= 2
	})
}

func TestFleetSurvivesLosingNATS(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	remote, _ := f.n2.mustConnect("a")
	if _, err := remote.subscribe(t, "x/#", 0); err != nil {
		t.Fatal(err)
	}
	local, _ := f.n1.mustConnect("a")
	if _, err := local.subscribe(t, "x/#", 0); err != nil {
		t.Fatal(err)
	}
	f.waitInterest(t, "a", "x/1")
	pub, _ := f.n1.mustConnect("a")

	f.nats.Stop(0)
	natstest.Poll(t, "node 1 to see NATS gone", func() bool {
		_, body := f.n1.get("/readyz")
		return f.n1.metric("pubsub_fleet_nats_connected") == 0 && strings.Contains(body, "nats: disconnected")
	})
	if code, _ := f.n1.get("/readyz"); code != 200 {
		t.Fatalf("/readyz = %d while NATS is down, want 200: the node serves its clients", code)
	}
	// The node's own clients go on.
	if _, err := pub.publish(t, "x/1", 1, "while NATS is down"); err != nil {
		t.Fatal(err)
	}
	local.expectMessage(t, "x/1", "while NATS is down")
	// A retained publish is acknowledged without waiting for JetStream;
	// the message stays retained on this node.
	if _, err := pub.Publish(t.Context(), &paho.Publish{Topic: "x/kept", QoS: 1, Retain: true, Payload: []byte("here")}); err != nil {
		t.Fatal(err)
	}
	local.expectMessage(t, "x/kept", "here")

	f.nats.Restart(t, 0)
	for _, e := range []*env{f.n1, f.n2} {
		natstest.Poll(t, "the nodes to reconnect", func() bool {
			return e.metric("pubsub_fleet_nats_connected") == 1 && e.metric("pubsub_fleet_reconnects_total") >= 1
		})
	}
	// What was buffered while NATS was down may arrive now; then the
	// nodes' subscriptions, restored by the client, carry new messages.
	f.waitInterest(t, "a", "x/1")
	if _, err := pub.publish(t, "x/1", 1, "after"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case m := <-remote.msgs:
			if string(m.Payload) == "after" {
				return
			}
		case <-time.After(waitFor):
			t.Fatal("node 2 got nothing after NATS came back")
		}
	}
}

func TestFleetTakeover(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	keep := func(cp *paho.Connect) {
		cp.CleanStart = false
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: paho.Uint32(60)}
	}
	old, _, err := f.n1.connect(b.host, claims.Subject, tok, keep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.subscribe(t, "t/1", 1); err != nil {
		t.Fatal(err)
	}
	f.n2.mustConnect("a") // node 2 serves the broker and follows its claims
	f.nats.WaitInterest(t, 0, "pubsub-claims.a")
	natstest.Poll(t, "node 1's subscription on NATS", func() bool { return f.nats.Subscriptions(t, "pubsub.") == 1 })

	if _, _, err := f.n2.connect(b.host, claims.Subject, tok, keep); err != nil {
		t.Fatal(err)
	}
	old.expectDisconnect(t, 0x8E)
	if got := f.n1.metric("pubsub_fleet_takeovers_total"); got != 1 {
		t.Fatalf("pubsub_fleet_takeovers_total = %d on node 1, want 1", got)
	}
	// Node 1 dropped the session it would have kept, and its interest:
	// the session lives on node 2 (fleetsession_test.go).
	natstest.Poll(t, "no stale NATS subscription", func() bool {
		return subscriptions(f.n1, "a") == 0 && f.nats.Subscriptions(t, "pubsub.") == 1
	})
	if got := f.n2.metric("pubsub_fleet_takeovers_total"); got != 0 {
		t.Fatalf("node 2 ended %d connections", got)
	}
}

func TestFleetConcurrentConnectsLeaveOne(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	f.n1.mustConnect("a")
	f.n2.mustConnect("a")
	f.nats.WaitInterest(t, 0, "pubsub-claims.a")
	live := func() int64 {
		var n int64
		for _, e := range []*env{f.n1, f.n2} {
			n += e.metric(`pubsub_connections{broker="` + b.host + `"}`)
		}
		return n
	}
	before := live()
	for round := range 5 {
		tok, claims := b.token(t, nil)
		errs := make(chan error, 2)
		for _, e := range []*env{f.n1, f.n2} {
			go func() {
				_, _, err := e.connect(b.host, claims.Subject, tok, nil)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		natstest.Poll(t, "one connection of the client id", func() bool { return live() == before+int64(round)+1 })
	}
}

func TestFleetWillCrossesNodes(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	sub, _ := f.n2.mustConnect("a")
	if _, err := sub.subscribe(t, "wills/+", 0); err != nil {
		t.Fatal(err)
	}
	f.waitInterest(t, "a", "wills/1")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	r := f.n1.dialRaw(b.host)
	r.connectV5With(t, claims.Subject, tok, func(c *packets.Connect) {
		c.WillFlag, c.WillTopic, c.WillMessage = true, "wills/1", []byte("gone")
	})
	_ = r.Close() // without DISCONNECT: the will goes out
	sub.expectMessage(t, "wills/1", "gone")
}

func TestFleetSharedSubscriptionAcrossNodes(t *testing.T) {
	f := newFleet(t, 3, nil, "a")
	pub, _ := f.n1.mustConnect("a")
	// probe publishes probes until one of cs has one.
	probe := func(what string, cs ...*client) {
		t.Helper()
		deadline := time.Now().Add(waitFor)
		for {
			if _, err := pub.publish(t, "jobs/probe", 1, "probe"); err != nil {
				t.Fatal(err)
			}
			for wait := time.Now().Add(50 * time.Millisecond); time.Now().Before(wait); time.Sleep(5 * time.Millisecond) {
				for _, c := range cs {
					select {
					case <-c.msgs:
						return
					default:
					}
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never got a probe", what)
			}
		}
	}
	// The ordinary subscriber on node 2 gets every message. Its
	// interest must reach NATS server 1 before the group's members
	// subscribe: once a member on node 2 is in the group, a probe that
	// NATS routes to node 2 for the group reaches this subscriber too,
	// through node 2's server, while server 1 may not yet know of the
	// subscriber's own interest, and then sends it only the messages of
	// the group that it picks node 2 for (1 run in ~90 under load).
	plain, _ := f.n2.mustConnect("a")
	if _, err := plain.subscribe(t, "jobs/+", 1); err != nil {
		t.Fatal(err)
	}
	probe("node 2's subscriber", plain)
	var members []*client
	for _, e := range []*env{f.n1, f.n2, f.n2} {
		c, _ := e.mustConnect("a")
		if _, err := c.subscribe(t, "$share/workers/jobs/+", 1); err != nil {
			t.Fatal(err)
		}
		members = append(members, c)
	}
	natstest.Poll(t, "both nodes' subscriptions", func() bool { return f.nats.Subscriptions(t, "pubsub.") == 3 })
	// Node 2's members are in the group once NATS picks one of them.
	probe("node 2's members", members[1], members[2])

	const n = 60
	for i := range n {
		if _, err := pub.publish(t, "jobs/1", 1, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Each member's messages come in order on its node's connection,
	// the members' of two nodes in no order: gather until every message
	// (and a last one) came.
	seen := map[string]int{}
	note := func(m *paho.Publish) {
		if string(m.Payload) != "probe" { // the group gets probes too
			seen[string(m.Payload)]++
		}
	}
	until := time.After(waitFor)
	sent := false
	for seen["last"] == 0 {
		if len(seen) == n && !sent {
			if _, err := pub.publish(t, "jobs/1", 1, "last"); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
		select {
		case m := <-members[0].msgs:
			note(m)
		case m := <-members[1].msgs:
			note(m)
		case m := <-members[2].msgs:
			note(m)
		case <-until:
			t.Fatalf("the group got %d distinct messages of %d", len(seen), n)
		}
	}
	for p, k := range seen {
		if k != 1 {
			t.Fatalf("message %s reached the group %d times, want once", p, k)
		}
	}
	for i := 0; i < n; {
		select {
		case m := <-plain.msgs:
			if string(m.Payload) == "probe" {
				continue // a later probe, in flight when the first came
			}
			if m.Topic != "jobs/1" || string(m.Payload) != fmt.Sprint(i) {
				t.Fatalf("got message %q on %q, want %q on jobs/1", m.Payload, m.Topic, fmt.Sprint(i))
			}
			i++
		case <-time.After(waitFor):
			t.Fatalf("no message %d on jobs/1", i)
		}
	}
}

// TestFleetSlowJetStreamHoldsNoConnection starts a broker's server while
// JetStream cannot answer (two of the three NATS servers are down, so it
// has no quorum, while core NATS works): two clients that connect at
// once both get in, though a connection waits for a starting server no
// longer than the connect timeout, here shorter than the wait for the
// fleet's retained messages; and they publish. Only a SUBSCRIBE waits,
// and briefly, for the retained messages it might get.
func TestFleetSlowJetStreamHoldsNoConnection(t *testing.T) {
	f := newFleet(t, 3, func(cfg *node.Config) { cfg.Limits.ConnectTimeout = time.Second }, "a")
	f.nats.Stop(1)
	f.nats.Stop(2)
	b := f.n1.brokers["a"]
	clients := make([]*client, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		tok, claims := b.token(t, nil)
		wg.Go(func() {
			var ca *paho.Connack
			if clients[i], ca, errs[i] = f.n1.connect(b.host, claims.Subject, tok, nil); errs[i] != nil {
				errs[i] = fmt.Errorf("%w (CONNACK %+v)", errs[i], ca)
			}
		})
	}
	wg.Wait()
	t.Logf("both connected in %v", time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d, while JetStream is slow: %v", i+1, err)
		}
	}
	sub, pub := clients[0], clients[1]
	if _, err := sub.subscribe(t, "s/#", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.publish(t, "s/1", 1, "served"); err != nil {
		t.Fatal(err)
	}
	sub.expectMessage(t, "s/1", "served")
}
