package node_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// expectDisconnectWithin waits for a DISCONNECT and checks it came within
// limit of since.
func expectDisconnectWithin(t *testing.T, c *client, code byte, since time.Time, limit time.Duration) {
	t.Helper()
	c.expectDisconnect(t, code)
	if d := time.Since(since); d >= limit {
		t.Errorf("DISCONNECT %#x came after %v, want < %v", code, d, limit)
	}
}

func TestRevocationDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	watcher, _ := e.mustConnect("a")
	if _, err := watcher.subscribe(t, "wills/#", 0); err != nil {
		t.Fatal(err)
	}
	tok, claims := a.token(t, nil)
	victim, _, err := e.connect(a.host, claims.Subject, tok, func(cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{Topic: "wills/victim", Payload: []byte("will")}
	})
	if err != nil {
		t.Fatal(err)
	}
	bystander, _ := e.mustConnect("a")

	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	expectDisconnectWithin(t, victim, 0x87, start, time.Second)

	// The revoked token cannot come back.
	_, ca, err := e.connect(a.host, claims.Subject, tok, nil)
	if err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Errorf("reconnect with a revoked token: %v, CONNACK %+v; want 0x87", err, ca)
	}
	// The will of a revoked session is not published, and the other
	// session is untouched.
	if _, err := bystander.publish(t, "wills/marker", 1, "marker"); err != nil {
		t.Fatalf("bystander: %v", err)
	}
	watcher.expectNoMessageBefore(t, "marker")
	if got := e.metric(`pubsub_disconnects_total{broker="` + a.host + `",reason="revoked"}`); got != 1 {
		t.Errorf("revoked disconnects = %d, want 1", got)
	}
}

func TestKeyRemovalDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	// Give the broker a second key, sign one session with each.
	pub2, priv2, _ := ed25519.GenerateKey(rand.Reader)
	jwk2 := token.NewJWK(pub2)
	twoKeys := a.feed
	twoKeys.Keys = append([]feed.Key{{ID: jwk2.Kid, X: jwk2.X, State: "next"}}, a.feed.Keys...)
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &twoKeys})

	old, _ := e.mustConnect("a")
	signer2 := &testBroker{host: a.host, kid: jwk2.Kid, priv: priv2}
	tok2, claims2 := signer2.token(t, nil)
	kept, _, err := e.connect(a.host, claims2.Subject, tok2, nil)
	if err != nil {
		t.Fatal(err)
	}

	oneKey := twoKeys
	oneKey.Keys = twoKeys.Keys[:1]
	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &oneKey})
	expectDisconnectWithin(t, old, 0x87, start, time.Second)
	if _, err := kept.publish(t, "x", 1, "still-here"); err != nil {
		t.Errorf("the session signed by the remaining key: %v", err)
	}
}

func TestBrokerDeletionDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "b")
	ca, _ := e.mustConnect("a")
	cb, _ := e.mustConnect("b")

	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeBrokerDeleted, BrokerID: "a"})
	expectDisconnectWithin(t, ca, 0x98, start, time.Second)

	if _, err := e.dialTLS(e.brokers["a"].host); err == nil {
		t.Error("handshake with a deleted broker's hostname succeeded")
	}
	if _, err := cb.publish(t, "x", 1, "b-lives"); err != nil {
		t.Errorf("broker b: %v", err)
	}
	eventually(t, "broker a's server to stop", func() bool {
		return e.metric(`pubsub_connections{broker="`+e.brokers["a"].host+`"}`) == -1
	})
}

func TestExpirationLoweredDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	oldTok, oldClaims := a.token(t, func(c *token.Claims) { c.IssuedAt = time.Now().Unix() - 600 })
	old, _, err := e.connect(a.host, oldClaims.Subject, oldTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	young, _ := e.mustConnect("a")

	lowered := a.feed
	lowered.Expiration = 300
	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &lowered})
	expectDisconnectWithin(t, old, 0x98, start, time.Second)
	if _, err := young.publish(t, "x", 1, "young"); err != nil {
		t.Errorf("the young session: %v", err)
	}
}

func TestTokenExpiryWhileConnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{TokenLeeway: time.Nanosecond}, "a")
	a := e.brokers["a"]
	exp := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(time.Second)
	tok, claims := a.token(t, func(c *token.Claims) { c.ExpiresAt = exp.Unix() })
	c, _, err := e.connect(a.host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.expectDisconnect(t, 0xA0)
	if late := time.Since(exp); late < 0 || late > time.Second {
		t.Errorf("DISCONNECT came %v after exp, want within [0, 1s)", late)
	}
	if d.Properties == nil || d.Properties.ReasonString == "" {
		t.Error("DISCONNECT has no reason string")
	}
}
