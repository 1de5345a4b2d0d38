package node_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/token"
)

func TestPublishACL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	watcher, _ := e.mustConnect("a")
	if _, err := watcher.subscribe(t, "#", 2); err != nil {
		t.Fatal(err)
	}
	tok, claims := a.token(t, func(c *token.Claims) {
		c.TopicACL = []string{"room/#"}
		c.PublishACL = []string{"room/+/out"}
	})
	c, _, err := e.connect(a.host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		topic string
		qos   byte
		code  byte
	}{
		{"AllowedQoS1", "room/1/out", 1, 0x00},
		{"AllowedQoS2", "room/1/out", 2, 0x00},
		{"ErrNarrowedQoS1", "room/1/in", 1, 0x87},
		{"ErrOutsideQoS1", "hall/1/out", 1, 0x87},
		{"ErrOutsideQoS2", "hall/1/out", 2, 0x87},
		{"ErrDollarSYS", "$SYS/broker/uptime", 1, 0x87},
		{"ErrDollar", "$internal/x", 1, 0x87},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := c.publish(t, tc.topic, tc.qos, tc.name)
			if resp == nil {
				t.Fatal("no acknowledgement")
			}
			if got := resp.ReasonCode; got != tc.code {
				t.Errorf("reason code = %#x, want %#x", got, tc.code)
			}
			if tc.code == 0 {
				watcher.expectMessage(t, tc.topic, tc.name)
			}
		})
	}
	// QoS 0 publishes the ACL refuses are dropped: the watcher's next
	// message is the marker published after them.
	for _, topic := range []string{"hall/1/out", "$internal/x", "$SYS/x"} {
		if _, err := c.publish(t, topic, 0, "dropped"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.publish(t, "room/2/out", 1, "marker"); err != nil {
		t.Fatal(err)
	}
	watcher.expectNoMessageBefore(t, "marker")

	if got := e.metric(`pubsub_qos0_dropped_total{broker="` + a.host + `"}`); got != 3 {
		t.Errorf("pubsub_qos0_dropped_total = %d, want 3", got)
	}
	if got := e.metric(`pubsub_acl_denials_total{broker="` + a.host + `",action="publish"}`); got != 8 {
		t.Errorf("publish ACL denials = %d, want 8", got)
	}
	// The client is still connected after all that.
	if _, err := c.publish(t, "room/3/out", 1, "still-here"); err != nil {
		t.Errorf("publish after refusals: %v", err)
	}
}

func TestSubscribeACL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	tok, claims := a.token(t, func(c *token.Claims) {
		c.TopicACL = []string{"room/#"}
		c.SubscribeACL = []string{"room/+/in", "room/lobby/#"}
	})
	c, _, err := e.connect(a.host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		filter string
		code   byte
	}{
		{"Allowed", "room/1/in", 0x01},
		{"AllowedWildcardInside", "room/+/in", 0x01},
		{"AllowedShared", "$share/g/room/lobby/#", 0x01},
		{"ErrWiderThanACL", "room/#", 0x87},
		{"ErrNarrowedBySubscribeACL", "room/1/out", 0x87},
		{"ErrOutsideTopicACL", "hall/#", 0x87},
		{"ErrSharedOutside", "$share/g/hall/#", 0x87},
		{"ErrAll", "#", 0x87},
		{"ErrSYS", "$SYS/#", 0x87},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, _ := c.subscribe(t, tc.filter, 1)
			if ack == nil || len(ack.Reasons) != 1 {
				t.Fatalf("SUBACK = %+v", ack)
			}
			if got := ack.Reasons[0]; got != tc.code {
				t.Errorf("SUBACK reason = %#x, want %#x", got, tc.code)
			}
		})
	}
	if got := e.metric(`pubsub_acl_denials_total{broker="` + a.host + `",action="subscribe"}`); got != 6 {
		t.Errorf("subscribe ACL denials = %d, want 6", got)
	}
}

// TestDeliveryACLAfterTakeover checks deliveries too: a session resumed
// with a narrower token keeps the subscriptions of the wider one, and must
// not receive what the new token does not allow.
func TestDeliveryACLAfterTakeover(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	wide, claims := a.token(t, nil)
	narrow, _ := a.token(t, func(c *token.Claims) { c.Subject, c.TopicACL = claims.Subject, []string{"ok/#"} })
	expiry := uint32(300)
	persistent := func(cp *paho.Connect) {
		cp.CleanStart = false
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &expiry}
	}
	c1, _, err := e.connect(a.host, claims.Subject, wide, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.subscribe(t, "#", 1); err != nil {
		t.Fatal(err)
	}
	c2, ca, err := e.connect(a.host, claims.Subject, narrow, persistent)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.SessionPresent {
		t.Fatal("the session was not resumed")
	}
	c1.expectDisconnect(t, 0x8E)

	pub, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for _, topic := range []string{"secret/x", "ok/x"} {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(topic)}); err != nil {
			t.Fatal(err)
		}
	}
	c2.expectNoMessageBefore(t, "ok/x")
}
