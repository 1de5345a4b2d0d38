package node_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

func TestPublishSubscribeViaSNI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	sub, _ := e.mustConnect("a")
	pub, _ := e.mustConnect("a")

	if _, err := sub.subscribe(t, "sensors/+/temp", 1); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	for qos := byte(0); qos <= 2; qos++ {
		resp, err := pub.publish(t, "sensors/1/temp", qos, "21")
		if err != nil {
			t.Fatalf("publish QoS %d: %v", qos, err)
		}
		if got := resp.ReasonCode; got >= 0x80 {
			t.Fatalf("publish QoS %d: reason code %#x", qos, got)
		}
		sub.expectMessage(t, "sensors/1/temp", "21")
	}
}

func TestRetainedMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	pub, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "state/door", QoS: 1, Retain: true, Payload: []byte("open")}); err != nil {
		t.Fatal(err)
	}
	sub, _ := e.mustConnect("a")
	if _, err := sub.subscribe(t, "state/#", 1); err != nil {
		t.Fatal(err)
	}
	sub.expectMessage(t, "state/door", "open")
}

func TestNoSNIRoutedByAudience(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "b")
	tok, claims := e.brokers["b"].token(t, nil)
	c, ca, err := e.connect("", claims.Subject, tok, nil)
	if err != nil {
		t.Fatalf("connect without SNI: %v (%+v)", err, ca)
	}
	// The session is on broker b: a subscriber there sees its messages.
	sub, _ := e.mustConnect("b")
	if _, err := sub.subscribe(t, "x", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.publish(t, "x", 1, "via-aud"); err != nil {
		t.Fatal(err)
	}
	sub.expectMessage(t, "x", "via-aud")
}

func TestNoSNIRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	other := newTestBroker(t, "unknown")
	unknownTok, _ := other.token(t, nil)
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"ErrNoToken", ""},
		{"ErrNotAToken", "hunter2"},
		{"ErrUnknownAudience", unknownTok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dialRaw("")
			ack := r.connectV5(t, "c", tc.tok)
			if got, want := ack.ReasonCode, byte(0x86); got != want {
				t.Errorf("CONNACK reason code = %#x, want %#x", got, want)
			}
			r.expectClosed(t, 0)
		})
	}
}

func TestUnknownSNIFailsHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	if _, err := e.dialTLS("nope.ns.pubsub.test"); err == nil {
		t.Fatal("handshake with an unknown SNI name succeeded")
	}
	if got := e.metric(`pubsub_node_unrouted_connections_total{reason="unknown_host"}`); got != 1 {
		t.Errorf("unknown_host count = %d, want 1", got)
	}
}

func TestAssignedClientIdentifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	for _, tc := range []struct {
		name     string
		clientID func(sub string) string
		assigned bool
	}{
		{"Empty", func(string) string { return "" }, true},
		{"Random", func(string) string { return "mqttjs_" + randomID() }, true},
		{"SameAsSub", func(sub string) string { return sub }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, claims := e.brokers["a"].token(t, nil)
			c, ca, err := e.connect(e.brokers["a"].host, tc.clientID(claims.Subject), tok, nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			want := ""
			if tc.assigned {
				want = claims.Subject
			}
			if got := ca.Properties.AssignedClientID; got != want {
				t.Errorf("Assigned Client Identifier = %q, want %q", got, want)
			}
			if got := c.ClientID(); got != claims.Subject {
				t.Errorf("client id = %q, want sub %q", got, claims.Subject)
			}
		})
	}
}

func TestQuotedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, claims := e.brokers["a"].token(t, nil)
	for _, host := range []string{e.brokers["a"].host, ""} {
		if _, ca, err := e.connect(host, claims.Subject, `"`+tok+`"`, nil); err != nil {
			t.Errorf("connect with a quoted token (SNI %q): %v (%+v)", host, err, ca)
		}
	}
}

func TestConnackProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	for _, tc := range []struct {
		name      string
		keepAlive uint16
		want      uint16
	}{
		{"TooShort", 2, 10},
		{"None", 0, 3600},
		{"TooLong", 7200, 3600},
		{"InRange", 60, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, claims := e.brokers["a"].token(t, nil)
			_, ca, err := e.connect(e.brokers["a"].host, claims.Subject, tok, func(cp *paho.Connect) {
				cp.KeepAlive = tc.keepAlive
				sei := uint32(30 * 24 * 3600)
				cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &sei}
			})
			if err != nil {
				t.Fatal(err)
			}
			p := ca.Properties
			if p.ServerKeepAlive == nil || *p.ServerKeepAlive != tc.want {
				t.Errorf("Server Keep Alive = %v, want %d", p.ServerKeepAlive, tc.want)
			}
			if p.MaximumPacketSize == nil || *p.MaximumPacketSize != 64*1024 {
				t.Errorf("Maximum Packet Size = %v, want 65536", p.MaximumPacketSize)
			}
			if p.SessionExpiryInterval == nil || *p.SessionExpiryInterval != 7*24*3600 {
				t.Errorf("Session Expiry Interval = %v, want 7 days", p.SessionExpiryInterval)
			}
			if p.TopicAliasMaximum == nil || *p.TopicAliasMaximum == 0 {
				t.Errorf("Topic Alias Maximum = %v, want > 0", p.TopicAliasMaximum)
			}
		})
	}
}

func TestTopicAlias(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	sub, _ := e.mustConnect("a")
	if _, err := sub.subscribe(t, "alias/#", 1); err != nil {
		t.Fatal(err)
	}
	tok, claims := e.brokers["a"].token(t, func(c *token.Claims) { c.PublishACL = []string{"alias/ok"} })
	pub, _, err := e.connect(e.brokers["a"].host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	alias := uint16(1)
	props := &paho.PublishProperties{TopicAlias: &alias}
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "alias/ok", QoS: 1, Payload: []byte("1"), Properties: props}); err != nil {
		t.Fatal(err)
	}
	// The second publish names the topic by its alias only, and the ACL
	// must still see it.
	if _, err := pub.Publish(ctx, &paho.Publish{QoS: 1, Payload: []byte("2"), Properties: props}); err != nil {
		t.Fatal(err)
	}
	sub.expectMessage(t, "alias/ok", "1")
	sub.expectMessage(t, "alias/ok", "2")
}

func TestWillIsPublished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	sub, _ := e.mustConnect("a")
	if _, err := sub.subscribe(t, "wills/#", 0); err != nil {
		t.Fatal(err)
	}
	tok, claims := e.brokers["a"].token(t, nil)
	c, _, err := e.connect(e.brokers["a"].host, claims.Subject, tok, func(cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{Topic: "wills/" + claims.Subject, Payload: []byte("gone")}
	})
	if err != nil {
		t.Fatal(err)
	}
	c.TerminateConnectionForTest()
	sub.expectMessage(t, "wills/"+claims.Subject, "gone")
}

func TestIsolationBetweenBrokers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "b")
	a, b := e.brokers["a"], e.brokers["b"]

	// The same client id on both brokers: neither takes the other over.
	tokA, _ := a.token(t, func(c *token.Claims) { c.Subject = "same-id" })
	tokB, _ := b.token(t, func(c *token.Claims) { c.Subject = "same-id" })
	ca, _, err := e.connect(a.host, "same-id", tokA, nil)
	if err != nil {
		t.Fatal(err)
	}
	cb, _, err := e.connect(b.host, "same-id", tokB, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.subscribe(t, "#", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.subscribe(t, "#", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.publish(t, "t", 1, "from-b"); err != nil {
		t.Fatal(err)
	}
	cb.expectMessage(t, "t", "from-b")
	if _, err := ca.publish(t, "t", 1, "from-a"); err != nil {
		t.Fatal(err)
	}
	// Each sees its own messages only: a's first message is its own, and
	// b's next one is the marker it publishes after a's message went out.
	ca.expectNoMessageBefore(t, "from-a")
	if _, err := cb.publish(t, "t", 1, "marker-b"); err != nil {
		t.Fatal(err)
	}
	cb.expectNoMessageBefore(t, "marker-b")
}

func TestTokenOfOtherBrokerRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "b")
	tok, claims := e.brokers["a"].token(t, nil)
	_, ca, err := e.connect(e.brokers["b"].host, claims.Subject, tok, nil)
	if err == nil {
		t.Fatal("broker a's token was accepted on broker b")
	}
	if got, want := ca.ReasonCode, byte(0x86); got != want {
		t.Errorf("CONNACK reason code = %#x, want %#x", got, want)
	}
}

func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnvNotReady(t, node.Limits{}, "a")
	if code, _ := e.get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _ := e.get("/readyz"); code != 503 {
		t.Errorf("/readyz before any State = %d, want 503", code)
	}
	env := newEnv(t, node.Limits{}, "a")
	if code, _ := env.get("/readyz"); code != 200 {
		t.Errorf("/readyz after Apply = %d, want 200", code)
	}
	c, _ := env.mustConnect("a")
	if _, err := c.publish(t, "x", 1, "hello"); err != nil {
		t.Fatal(err)
	}
	host := env.brokers["a"].host
	for _, c := range []struct {
		sample string
		want   int64
	}{
		{`pubsub_connections{broker="` + host + `"}`, 1},
		{`pubsub_connections_accepted_total{broker="` + host + `"}`, 1},
		{`pubsub_messages_received_total{broker="` + host + `"}`, 1},
		{`pubsub_acl_denials_total{broker="` + host + `",action="publish"}`, 0},
		{"pubsub_node_ready", 1},
		{"pubsub_node_brokers", 1},
	} {
		if got := env.metric(c.sample); got != c.want {
			t.Errorf("%s = %d, want %d", c.sample, got, c.want)
		}
	}
	if got := env.metric(`pubsub_bytes_received_total{broker="` + host + `"}`); got <= 0 {
		t.Errorf("bytes received = %d, want > 0", got)
	}
}

func TestStartBindErrorAndDoubleClose(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	e := newEnvNotReady(t, node.Limits{})
	n, err := node.New(node.Config{MQTTAddrs: []string{"127.0.0.1:0", busy.Addr().String()}, OpsAddr: "127.0.0.1:0", Certs: e.certs})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("Start on a busy port succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Start took %v to report a bind error", d)
	}
	if err := e.node.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := e.node.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigInvalid(t *testing.T) {
	t.Parallel()
	certs := &certSource{}
	for _, tc := range []struct {
		name string
		cfg  node.Config
	}{
		{"ErrNoCerts", node.Config{}},
		{"ErrTinyPacketSize", node.Config{Certs: certs, Limits: node.Limits{MaxPacketSize: 10}}},
		{"ErrKeepAliveRange", node.Config{Certs: certs, Limits: node.Limits{MinKeepAlive: 100, MaxKeepAlive: 50}}},
		{"ErrNegativeRate", node.Config{Certs: certs, Limits: node.Limits{MessageRate: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := node.New(tc.cfg); err == nil {
				t.Error("New accepted an invalid Config")
			}
		})
	}
}

func TestCloseDisconnectsClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	c, _ := e.mustConnect("a")
	// A connection stuck before CONNECT must not hold Close up either.
	stuck := e.dialRaw("")
	start := time.Now()
	if err := e.node.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
	c.expectDisconnect(t, 0x8B)
	if _, err := stuck.Read(make([]byte, 1)); err == nil {
		t.Error("a connection survived Close")
	}
	if _, err := e.dialTLS(e.brokers["a"].host); err == nil {
		t.Error("the node accepts connections after Close")
	}
}

// sourceFunc adapts a function to broker.ConfigSource.
type sourceFunc func(ctx context.Context, apply func(*broker.State)) error

func (f sourceFunc) Run(ctx context.Context, apply func(*broker.State)) error { return f(ctx, apply) }

func TestRunAppliesConfigSource(t *testing.T) {
	t.Parallel()
	e := newEnvNotReady(t, node.Limits{}, "a")
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 3, Brokers: []feed.Broker{e.brokers["a"].feed}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := sourceFunc(func(ctx context.Context, apply func(*broker.State)) error {
		apply(st)
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	if err := e.node.Run(ctx, src); err != context.Canceled {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if !e.node.Ready() {
		t.Error("the node is not ready after the source applied a State")
	}
	e.state = st
	e.mustConnect("a")
}
