package node_test

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// Sessions follow their token (issue 14, findings 1 and 9): what a
// session kept offline holds was granted to the token that made it.

// persistent makes a CONNECT resume and keep its session for five minutes.
func persistent(cp *paho.Connect) {
	expiry := uint32(300)
	cp.CleanStart = false
	cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
}

// offlineWithQueued leaves an offline session of a token allowed secret/#
// and public/#, subscribed to both at QoS 1, with secret/x then
// public/marker queued for it. It returns the token's claims.
func offlineWithQueued(t *testing.T, e *env) *token.Claims {
	t.Helper()
	a := e.brokers["a"]
	tok, claims := a.token(t, func(c *token.Claims) { c.TopicACL = []string{"secret/#", "public/#"} })
	c, _, err := e.connect(a.host, claims.Subject, tok, persistent)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"secret/#", "public/#"} {
		if _, err := c.subscribe(t, f, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-c.done
	pub, _ := e.mustConnect("a")
	for _, topic := range []string{"secret/x", "public/marker"} {
		if _, err := pub.publish(t, topic, 1, topic); err != nil {
			t.Fatal(err)
		}
	}
	return claims
}

// TestResumeWithNarrowerTokenDropsQueued: a session resumed with a token
// that may not read secret/# is not sent what was queued there for the
// old token. Before issue 14 the inherited inflight messages were resent
// without a check, and secret/x arrived first.
func TestResumeWithNarrowerTokenDropsQueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	claims := offlineWithQueued(t, e)

	narrow, _ := a.token(t, func(c *token.Claims) { c.Subject, c.TopicACL = claims.Subject, []string{"public/#"} })
	c, ca, err := e.connect(a.host, claims.Subject, narrow, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("the session was not resumed")
	}
	c.expectNoMessageBefore(t, "public/marker")
}

// TestRevocationDropsOfflineSession: revoking the token of an offline
// session drops the session and what is queued for it, so that a new
// token for the same client id starts afresh. Before issue 14 the
// session lingered for its whole expiry and was resumed with secret/x.
func TestRevocationDropsOfflineSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	claims := offlineWithQueued(t, e)

	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	eventually(t, "the offline session to be dropped", func() bool {
		return e.metric(`pubsub_offline_sessions_dropped_total{broker="`+a.host+`",reason="revoked"}`) == 1
	})

	fresh, _ := a.token(t, func(c *token.Claims) { c.Subject, c.TopicACL = claims.Subject, []string{"#"} })
	c, ca, err := e.connect(a.host, claims.Subject, fresh, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if ca.SessionPresent {
		t.Fatal("the revoked token's session was resumed")
	}
	// Nothing of the old subscriptions is left either.
	pub, _ := e.mustConnect("a")
	if _, err := pub.publish(t, "secret/y", 1, "secret/y"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.subscribe(t, "marker", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.publish(t, "marker", 1, "marker"); err != nil {
		t.Fatal(err)
	}
	c.expectNoMessageBefore(t, "marker")
}

// TestRevocationCancelsDelayedWill: the delayed will of a client whose
// connection dropped is not published once its token is revoked. A
// second client's will, due a second later, shows when the first would
// have come. Before issue 14 the revoked client's will was published.
func TestRevocationCancelsDelayedWill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	watcher, _ := e.mustConnect("a")
	if _, err := watcher.subscribe(t, "wills/#", 0); err != nil {
		t.Fatal(err)
	}
	willing := func(name string, delay uint32) (*rawConn, *token.Claims) {
		tok, claims := a.token(t, nil)
		r := e.dialRaw(a.host)
		ack := r.connectV5With(t, claims.Subject, tok, func(c *packets.Connect) {
			c.WillFlag, c.WillTopic, c.WillMessage = true, "wills/"+name, []byte(name)
			c.WillProperties = &packets.Properties{WillDelayInterval: &delay}
		})
		if ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		return r, claims
	}
	victim, claims := willing("victim", 1)
	control, _ := willing("control", 2)
	// Both connections drop without DISCONNECT: their wills are due.
	_ = victim.Close()
	_ = control.Close()
	eventually(t, "both connections to end", func() bool {
		return e.metric(`pubsub_connections{broker="`+a.host+`"}`) == 1
	})

	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	watcher.expectNoMessageBefore(t, "control")
}
