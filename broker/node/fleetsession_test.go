package node_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// storedSession reports whether the fleet's store holds a session of
// broker id's clientID, read through a bus of the test's own.
func (f *fleet) storedSession(t *testing.T, id, clientID string) bool {
	t.Helper()
	if f.store == nil {
		b, err := natsbus.Connect(natsbus.Config{URL: f.nats.URL(0), NodeID: "test", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		natstest.Poll(t, "the test's bus to connect", b.Connected)
		if f.store, err = b.Sessions(0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := f.store.LoadSession(ctx, id, clientID)
	if err != nil {
		t.Fatal(err)
	}
	return s != nil
}

// subscriptions is a node's count of a broker's subscriptions.
func subscriptions(e *env, id string) int64 {
	return e.metric(`pubsub_subscriptions{broker="` + e.brokers[id].host + `"}`)
}

// TestFleetSessionResumesOnAnotherNode: a persistent session subscribed on
// node 1 resumes on node 2 with its subscriptions (options and
// identifiers included): messages published on node 1 reach it without a
// new SUBSCRIBE. The message queued on node 1 while it was offline stays
// there, and is dropped and counted. Before, node 2 answered Session
// Present 0 and the client got nothing.
func TestFleetSessionResumesOnAnotherNode(t *testing.T) {
	f := newFleet(t, 3, nil, "a") // the session bucket replicated on three servers
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	id := 7
	if _, err := c1.Subscribe(t.Context(), &paho.Subscribe{
		Subscriptions: []paho.SubscribeOptions{{Topic: "s/+", QoS: 1}},
		Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &id},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "plain", 0); err != nil {
		t.Fatal(err)
	}
	_ = c1.Disconnect(&paho.Disconnect{})
	<-c1.done

	// Queued on node 1 for the offline session; the second publish is
	// fanned out after the first, so once it is acknowledged the first
	// is queued.
	pub, _ := f.n1.mustConnect("a")
	for _, topic := range []string{"s/queued", "elsewhere"} {
		if _, err := pub.publish(t, topic, 1, topic); err != nil {
			t.Fatal(err)
		}
	}

	c2, ca, err := f.n2.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("node 2 answered Session Present 0 to a client with a persistent session on node 1")
	}
	natstest.Poll(t, "the session to move from node 1 to node 2", func() bool {
		return subscriptions(f.n1, "a") == 0 && subscriptions(f.n2, "a") == 2
	})
	if got := f.n1.metric("pubsub_fleet_session_messages_dropped_total"); got != 1 {
		t.Errorf("node 1 dropped %d queued messages, want 1", got)
	}
	if got := f.n2.metric("pubsub_fleet_sessions_resumed_total"); got != 1 {
		t.Errorf("pubsub_fleet_sessions_resumed_total = %d on node 2, want 1", got)
	}
	f.waitInterest(t, "a", "s/1")
	f.waitInterest(t, "a", "plain")

	if _, err := pub.publish(t, "s/1", 1, "after the move"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-c2.msgs:
		if m.Topic != "s/1" || string(m.Payload) != "after the move" || m.QoS != 1 ||
			m.Properties.SubscriptionIdentifier == nil || *m.Properties.SubscriptionIdentifier != 7 {
			t.Fatalf("got %+v (properties %+v), want s/1 at QoS 1 with subscription identifier 7", m, m.Properties)
		}
	case <-time.After(waitFor):
		t.Fatal("the resumed session got nothing published on node 1")
	}
	if _, err := pub.publish(t, "plain", 1, "plain"); err != nil {
		t.Fatal(err)
	}
	c2.expectMessage(t, "plain", "plain")
}

// TestFleetSessionTakeoverWhileConnected: a client id that connects on
// node 2 while its persistent session is connected on node 1 takes the
// session with it, and node 1's connection gets 0x8E.
func TestFleetSessionTakeoverWhileConnected(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "t/1", 1); err != nil {
		t.Fatal(err)
	}
	f.n2.mustConnect("a") // node 2 serves the broker and follows its claims
	f.nats.WaitInterest(t, 0, "pubsub-claims.a")

	c2, ca, err := f.n2.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("the session did not follow its client id to node 2")
	}
	c1.expectDisconnect(t, 0x8E)
	natstest.Poll(t, "the session to move from node 1 to node 2", func() bool {
		return subscriptions(f.n1, "a") == 0 && subscriptions(f.n2, "a") == 1
	})
	f.waitInterest(t, "a", "t/1")
	pub, _ := f.n1.mustConnect("a")
	if _, err := pub.publish(t, "t/1", 1, "taken over"); err != nil {
		t.Fatal(err)
	}
	c2.expectMessage(t, "t/1", "taken over")
	// The store follows the new connection: it still resumes after node
	// 1's connection is gone.
	if !f.storedSession(t, "a", claims.Subject) {
		t.Fatal("the session is no longer stored after the takeover")
	}
}

// TestFleetSessionCleanStartDiscards: a clean start on another node
// discards the stored session; a later Clean Start 0 finds none.
func TestFleetSessionCleanStartDiscards(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "old", 1); err != nil {
		t.Fatal(err)
	}
	_ = c1.Disconnect(&paho.Disconnect{})
	<-c1.done
	if !f.storedSession(t, "a", claims.Subject) {
		t.Fatal("the persistent session is not stored")
	}

	c2, ca, err := f.n2.connect(b.host, claims.Subject, tok, nil) // Clean Start 1, expiry 0
	if err != nil {
		t.Fatal(err)
	}
	if ca.SessionPresent {
		t.Fatal("a clean start resumed the session")
	}
	natstest.Poll(t, "the stored session to be discarded", func() bool { return !f.storedSession(t, "a", claims.Subject) })
	natstest.Poll(t, "node 1 to drop its offline session", func() bool { return subscriptions(f.n1, "a") == 0 })
	_ = c2.Disconnect(&paho.Disconnect{})
	<-c2.done

	c3, ca, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if ca.SessionPresent {
		t.Fatal("Clean Start 0 after a clean start found a session")
	}
	_ = c3
}

// TestFleetSessionNarrowerToken: a session resumed on another node with a
// narrower token keeps only what the new token may read (the rule of
// issue 14 for a session resumed on one node).
func TestFleetSessionNarrowerToken(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, func(c *token.Claims) { c.TopicACL = []string{"secret/#", "public/#"} })
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	for _, filter := range []string{"secret/#", "public/#"} {
		if _, err := c1.subscribe(t, filter, 1); err != nil {
			t.Fatal(err)
		}
	}
	_ = c1.Disconnect(&paho.Disconnect{})
	<-c1.done

	narrow, _ := b.token(t, func(c *token.Claims) { c.Subject, c.TopicACL = claims.Subject, []string{"public/#"} })
	c2, ca, err := f.n2.connect(b.host, claims.Subject, narrow, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("the session was not resumed")
	}
	natstest.Poll(t, "the session to move from node 1 to node 2", func() bool {
		return subscriptions(f.n1, "a") == 0 && subscriptions(f.n2, "a") == 2
	})
	f.waitInterest(t, "a", "secret/x")
	f.waitInterest(t, "a", "public/marker")
	pub, _ := f.n1.mustConnect("a")
	for _, topic := range []string{"secret/x", "public/marker"} {
		if _, err := pub.publish(t, topic, 1, topic); err != nil {
			t.Fatal(err)
		}
	}
	c2.expectNoMessageBefore(t, "public/marker")
}

// TestFleetSessionExpires: a session resumes only within its expiry; the
// store forgets it afterwards.
func TestFleetSessionExpires(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, brief)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "x", 1); err != nil {
		t.Fatal(err)
	}
	if !f.storedSession(t, "a", claims.Subject) {
		t.Fatal("the session is not stored once its SUBACK came")
	}
	_ = c1.Disconnect(&paho.Disconnect{})
	<-c1.done
	natstest.Poll(t, "the stored session to expire", func() bool { return !f.storedSession(t, "a", claims.Subject) })

	_, ca, err := f.n2.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if ca.SessionPresent {
		t.Fatal("an expired session was resumed")
	}
}

// TestFleetSessionRevoked: revoking the token of an offline session drops
// it from the fleet's store too, so that another node does not resume it.
func TestFleetSessionRevoked(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "x", 1); err != nil {
		t.Fatal(err)
	}
	if !f.storedSession(t, "a", claims.Subject) {
		t.Fatal("the session is not stored once its SUBACK came")
	}
	_ = c1.Disconnect(&paho.Disconnect{})
	<-c1.done
	f.n1.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	natstest.Poll(t, "the revoked session to leave the store", func() bool { return !f.storedSession(t, "a", claims.Subject) })

	fresh, _ := b.token(t, func(c *token.Claims) { c.Subject = claims.Subject })
	_, ca, err := f.n2.connect(b.host, claims.Subject, fresh, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if ca.SessionPresent {
		t.Fatal("the revoked token's session was resumed on another node")
	}
}

// TestFleetSessionSurvivesNodeShutdown: the sessions of a node that shuts
// down resume on another node.
func TestFleetSessionSurvivesNodeShutdown(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "y", 1); err != nil {
		t.Fatal(err)
	}
	_ = f.n1.node.Close()
	<-c1.done

	c2, ca, err := f.n2.connect(b.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("the session of a node that shut down was not resumed")
	}
	pub, _ := f.n2.mustConnect("a")
	if _, err := pub.publish(t, "y", 1, "on node 2"); err != nil {
		t.Fatal(err)
	}
	c2.expectMessage(t, "y", "on node 2")
}

// TestFleetSessionLease: the stored session of a connected client is
// renewed by its node, so it outlives its lease (and expiry) while the
// client stays; a session whose node died without a word (kill -9: the
// node neither renewed it nor stored its end) is removed once its lease
// and expiry run out. Before, such a record stayed until its client id
// connected again.
func TestFleetSessionLease(t *testing.T) {
	node.SetSessionLease(2 * time.Second)
	t.Cleanup(func() { node.SetSessionLease(10 * time.Minute) })
	f := newFleet(t, 1, nil, "a")
	b := f.n1.brokers["a"]
	tok, claims := b.token(t, nil)
	c1, _, err := f.n1.connect(b.host, claims.Subject, tok, brief)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "x", 1); err != nil {
		t.Fatal(err)
	}
	// Connected past its lease and expiry (3 s): still stored.
	for end := time.Now().Add(4500 * time.Millisecond); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if !f.storedSession(t, "a", claims.Subject) {
			t.Fatal("a connected client's session expired from the store: its node did not renew it")
		}
	}

	// What a node killed while its client was connected leaves behind.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ghost := &broker.StoredSession{BrokerID: "a", ClientID: "ghost", Node: "dead-node", At: time.Now(), Expiry: time.Second,
		Lease: time.Second, Subscriptions: []broker.StoredSubscription{{Filter: "x", QoS: 1}}}
	if err := f.store.SaveSession(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	if !f.storedSession(t, "a", "ghost") {
		t.Fatal("the dead node's session was not stored")
	}
	natstest.Poll(t, "the dead node's session to run out", func() bool { return !f.storedSession(t, "a", "ghost") })
}

// brief makes a CONNECT resume and keep its session for one second.
func brief(cp *paho.Connect) {
	cp.CleanStart = false
	cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: paho.Uint32(1)}
}
