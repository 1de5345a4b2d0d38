package node_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestSubscriptionLimit: a session holds at most MaxSubscriptions
// subscriptions; a filter beyond it gets SUBACK 0x97 and is counted, and
// resubscribing to a filter it holds still works (issue 14, finding 6:
// before, one session held 100,000).
func TestSubscriptionLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxSubscriptions: 3}, "a")
	c, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "a", QoS: 1}, {Topic: "b", QoS: 1}, {Topic: "c", QoS: 1}, {Topic: "d", QoS: 1},
	}})
	if ack == nil { // paho also returns an error: one filter failed
		t.Fatal(err)
	}
	if got, want := ack.Reasons, []byte{1, 1, 1, 0x97}; string(got) != string(want) {
		t.Fatalf("SUBACK reasons = % x, want % x", got, want)
	}
	ack, err = c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a", QoS: 0}, {Topic: "e", QoS: 0}}})
	if ack == nil {
		t.Fatal(err)
	}
	if got, want := ack.Reasons, []byte{0, 0x97}; string(got) != string(want) {
		t.Fatalf("SUBACK reasons = % x, want % x", got, want)
	}
	if got := e.metric(`pubsub_subscriptions_refused_total{broker="` + e.brokers["a"].host + `"}`); got != 2 {
		t.Errorf("subscriptions refused = %d, want 2", got)
	}
}

// TestTokenCache: a client reconnecting with the same token is let in
// from the cache of verified tokens, and the cache never lets in what
// the configuration refuses since (issue 20's verified-token cache).
func TestTokenCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	tok, claims := a.token(t, nil)
	for i := range 2 {
		c, ca, err := e.connect(a.host, claims.Subject, tok, nil)
		if err != nil {
			t.Fatalf("connect %d: %v (CONNACK %+v)", i, err, ca)
		}
		if err := c.Disconnect(&paho.Disconnect{}); err != nil {
			t.Fatal(err)
		}
		<-c.done
	}
	if got := e.metric(`pubsub_token_cache_hits_total`); got != 1 {
		t.Errorf("token cache hits = %d, want 1", got)
	}
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	if _, ca, err := e.connect(a.host, claims.Subject, tok, nil); err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Errorf("reconnect with the cached, now revoked token: %v, CONNACK %+v; want 0x87", err, ca)
	}
}

// TestRetainedMessagesMetric: one retained message shows as one, not as
// mochi's count with its own $SYS topics (issue 17: it showed 21).
func TestRetainedMessagesMetric(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	c, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "kept", QoS: 1, Retain: true, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if got := e.metric(`pubsub_retained_messages{broker="` + e.brokers["a"].host + `"}`); got != 1 {
		t.Errorf("pubsub_retained_messages = %d, want 1", got)
	}
}
