package natsbus

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
)

const b1 = "0123456789abcdef0123456789abcdef"

func startBus(t *testing.T, url, id string) *Bus {
	t.Helper()
	b, err := Connect(Config{URL: url, NodeID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	natstest.Poll(t, "the bus to connect", b.Connected)
	return b
}

// delivery is one message a link delivered.
type delivery struct {
	m     *broker.Message
	group string
}

// recorder collects a link's deliveries.
type recorder chan delivery

func (r recorder) deliver(m *broker.Message, group string) { r <- delivery{m, group} }

// next returns the next delivery that is not a probe.
func (r recorder) next(t *testing.T) delivery {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case d := <-r:
			if string(d.m.Payload) != "probe" {
				return d
			}
		case <-timeout:
			t.Fatal("no delivery within 10 s")
			return delivery{}
		}
	}
}

// probe publishes probes on topic until each recorder has one: NATS has
// then spread the interest it was told of before.
func probe(t *testing.T, l *link, topic string, recs ...recorder) {
	t.Helper()
	got := make([]bool, len(recs))
	natstest.Poll(t, "a probe on "+topic, func() bool {
		if err := l.Publish(&broker.Message{Topic: topic, Payload: []byte("probe")}); err != nil {
			t.Fatal(err)
		}
		_ = l.bus.nc.Flush()
		all := true
		for i, r := range recs {
			for !got[i] && len(r) > 0 {
				d := <-r
				if string(d.m.Payload) != "probe" {
					t.Fatalf("got %q before any probe", d.m.Payload)
				}
				got[i] = true
			}
			all = all && got[i]
		}
		return all
	})
}

func join(t *testing.T, b *Bus, brokerID string) (*link, recorder) {
	t.Helper()
	r := make(recorder, 4096)
	l, err := b.join(brokerID, r.deliver, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, r
}

// subject is the subject of a topic of broker b1.
func subject(t *testing.T, topic string) string {
	t.Helper()
	s, err := TopicSubject(Root("pubsub", b1), topic)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublishReachesOtherNode(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startBus(t, c.URL(0), "node-a"), startBus(t, c.URL(2), "node-b")
	la, _ := join(t, a, b1)
	lb, rb := join(t, b, b1)
	lb.AddInterest("room 1/+", "")
	c.WaitInterest(t, 0, subject(t, "room 1/x.y"))

	want := &broker.Message{
		Topic: "room 1/x.y", Payload: []byte("hello"), QoS: 1, Retain: true, ClientID: "pub-1",
		Expiry: time.Now().Add(time.Hour), ContentType: "text/plain", PayloadFormat: 1,
		ResponseTopic: "replies", CorrelationData: []byte{1, 2}, UserProperties: [][2]string{{"k", "v"}, {"k", "w"}},
	}
	if err := la.Publish(want); err != nil {
		t.Fatal(err)
	}
	d := rb.next(t)
	got := d.m
	if d.group != "" || got.BrokerID != b1 || got.Topic != want.Topic || string(got.Payload) != "hello" || got.QoS != 1 || !got.Retain ||
		got.ClientID != "pub-1" || got.ContentType != "text/plain" || got.PayloadFormat != 1 || got.ResponseTopic != "replies" ||
		string(got.CorrelationData) != "\x01\x02" || !slices.Equal(got.UserProperties, want.UserProperties) {
		t.Fatalf("got %+v (group %q), want %+v", got, d.group, want)
	}
	if left := time.Until(got.Expiry); left < 59*time.Minute || left > time.Hour+time.Second {
		t.Fatalf("expiry in %v, want about an hour", left)
	}
	if s := a.Stats(); s.Published != 1 || s.Received != 0 {
		t.Fatalf("publisher's stats %+v", s)
	}
	if s := b.Stats(); s.Received != 1 || !s.Connected {
		t.Fatalf("receiver's stats %+v", s)
	}
}

// outMsgs counts the messages server s sent to the connection named
// "pubsub-node "+id.
func outMsgs(t *testing.T, s *server.Server, id string) int64 {
	t.Helper()
	cz, err := s.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == "pubsub-node "+id {
			return c.OutMsgs
		}
	}
	t.Fatalf("no connection of node %s", id)
	return 0
}

func TestNoEchoAndInterestOnly(t *testing.T) {
	c := natstest.Start(t, 1)
	a, b, idle := startBus(t, c.URL(0), "a"), startBus(t, c.URL(0), "b"), startBus(t, c.URL(0), "idle")
	la, ra := join(t, a, b1)
	lb, rb := join(t, b, b1)
	join(t, idle, b1) // a member with no subscriber: it must get nothing
	la.AddInterest("#", "")
	lb.AddInterest("#", "")
	natstest.Poll(t, "both subscriptions", func() bool { return c.Subscriptions(t, "pubsub.") == 2 })

	if err := la.Publish(&broker.Message{Topic: "t", Payload: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if d := rb.next(t); string(d.m.Payload) != "1" {
		t.Fatalf("b got %q", d.m.Payload)
	}
	if err := a.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if n := outMsgs(t, c.Servers[0], "a"); n != 0 {
		t.Fatalf("NATS sent node a %d messages, its own echoes", n)
	}
	if n := outMsgs(t, c.Servers[0], "idle"); n != 0 {
		t.Fatalf("NATS sent a node without subscribers %d messages", n)
	}
	if len(ra) != 0 {
		t.Fatal("node a delivered its own message")
	}

	// The origin check stands behind NoEcho.
	buf := appendEnvelope(nil, "a", &broker.Message{Topic: "t"}, time.Now())
	la.handle(natsMsg(subject(t, "t"), buf))
	if len(ra) != 0 {
		t.Fatal("a message from this node was delivered")
	}
}

func TestOverlappingFiltersDeliverOnceInOrder(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(1), "b")
	la, _ := join(t, a, b1)
	lb, rb := join(t, b, b1)
	// NATS spreads interest in the order the node subscribed: "#" last,
	// and probes on a topic only it matches.
	for _, f := range []string{"a/+", "a/#", "+/1", "#"} {
		lb.AddInterest(f, "")
	}
	natstest.Poll(t, "five subscriptions", func() bool { return lb.subscriptions() == 5 })
	probe(t, la, "zz", rb)

	const n = 500
	for i := range n {
		topic := fmt.Sprintf("a/%d", i%7) // matched by three or four filters
		if i%5 == 0 {
			topic = "a"
		}
		if err := la.Publish(&broker.Message{Topic: topic, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := la.Publish(&broker.Message{Topic: "end", Payload: []byte("end")}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if d := rb.next(t); string(d.m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q on %s", i, d.m.Payload, d.m.Topic)
		}
	}
	// Copies would have come before the end marker.
	if d := rb.next(t); string(d.m.Payload) != "end" {
		t.Fatalf("got %q on %s after the last message, want the end marker", d.m.Payload, d.m.Topic)
	}
}

func TestInterestFollowsCounts(t *testing.T) {
	c := natstest.Start(t, 3)
	b := startBus(t, c.URL(1), "b")
	lb, _ := join(t, b, b1)
	subs := func(want int) {
		t.Helper()
		natstest.Poll(t, fmt.Sprintf("%d NATS subscriptions", want), func() bool {
			return lb.subscriptions() == want && c.Subscriptions(t, "pubsub.") == want
		})
	}
	lb.AddInterest("a/+", "")
	lb.AddInterest("a/+", "")
	subs(1)
	lb.RemoveInterest("a/+", "")
	lb.AddInterest("x/#", "")
	subs(3) // a.*, x and x.>
	lb.RemoveInterest("a/+", "")
	lb.RemoveInterest("a/+", "") // one too many: ignored
	subs(2)
	lb.AddInterest("a/+", "g")
	subs(3)
	lb.RemoveInterest("x/#", "")
	lb.RemoveInterest("a/+", "g")
	subs(0)
	lb.AddInterest("y", "")
	subs(1)
	lb.Close()
	natstest.Poll(t, "no subscription after Close", func() bool { return c.Subscriptions(t, "pubsub.") == 0 })
	lb.AddInterest("z", "") // after Close: nothing
	if n := lb.subscriptions(); n != 0 {
		t.Fatalf("%d subscriptions after Close", n)
	}
}

func TestQueueGroupsShareMessages(t *testing.T) {
	c := natstest.Start(t, 3)
	a := startBus(t, c.URL(0), "a")
	la, _ := join(t, a, b1)
	var recs []recorder
	for i := 1; i <= 2; i++ {
		m := startBus(t, c.URL(i), fmt.Sprint("member", i))
		l, r := join(t, m, b1)
		l.AddInterest("q/+", "g 1")
		l.AddInterest("end", "")
		recs = append(recs, r)
	}
	natstest.Poll(t, "four subscriptions", func() bool { return c.Subscriptions(t, "pubsub.") == 4 })
	probe(t, la, "end", recs...)

	const n = 200
	for i := range n {
		if err := la.Publish(&broker.Message{Topic: "q/x", Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// The group's messages come on the members' second connection, in
	// no order with "end": gather until every message, then a last one,
	// came.
	seen := map[string]int{}
	timeout := time.After(10 * time.Second)
	for sent := false; seen["last"] == 0; {
		if len(seen) == n && !sent {
			if err := la.Publish(&broker.Message{Topic: "q/x", Payload: []byte("last")}); err != nil {
				t.Fatal(err)
			}
			sent = true
		}
		var d delivery
		select {
		case d = <-recs[0]:
		case d = <-recs[1]:
		case <-timeout:
			t.Fatalf("the group got %d distinct messages, want %d", len(seen), n)
		}
		if string(d.m.Payload) == "probe" {
			continue
		}
		if d.group != "g 1" {
			t.Fatalf("delivered for group %q", d.group)
		}
		seen[string(d.m.Payload)]++
	}
	delete(seen, "last")
	if len(seen) != n {
		t.Fatalf("the group got %d distinct messages, want %d", len(seen), n)
	}
	for p, k := range seen {
		if k != 1 {
			t.Fatalf("message %s reached the group %d times", p, k)
		}
	}
}

func TestBrokersAreIsolated(t *testing.T) {
	const b2 = "fedcba9876543210fedcba9876543210"
	c := natstest.Start(t, 1)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(0), "b")
	la, _ := join(t, a, b1)
	lb1, rb1 := join(t, b, b1)
	lb2, rb2 := join(t, b, b2)
	lb1.AddInterest("end", "")
	lb2.AddInterest("#", "")
	natstest.Poll(t, "both subscriptions", func() bool { return c.Subscriptions(t, "pubsub.") == 2 })
	for _, topic := range []string{"x", "end"} {
		if err := la.Publish(&broker.Message{Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	if d := rb1.next(t); d.m.Topic != "end" || d.m.BrokerID != b1 {
		t.Fatalf("broker 1 got %+v", d.m)
	}
	if err := b.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rb2) != 0 {
		t.Fatal("broker 2 got broker 1's message")
	}
}

func TestPublishRefusals(t *testing.T) {
	c := natstest.Start(t, 1)
	a := startBus(t, c.URL(0), "a")
	la, _ := join(t, a, b1)
	if err := la.Publish(&broker.Message{Topic: strings.Repeat("é", 2000)}); err != ErrSubjectTooLong {
		t.Fatalf("err = %v, want ErrSubjectTooLong", err)
	}
	if err := la.Publish(&broker.Message{Topic: "t", Payload: make([]byte, 2<<20)}); err == nil {
		t.Fatal("a payload over the server's max_payload was accepted")
	}
	if s := a.Stats(); s.PublishDrops != 2 || s.Published != 0 {
		t.Fatalf("stats %+v, want 2 publish drops", s)
	}
}

func TestConnectRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"NoURL":        {},
		"MissingCreds": {URL: "nats://127.0.0.1:1", CredsFile: "/nonexistent/creds"},
		"MissingCA":    {URL: "nats://127.0.0.1:1", CAFile: "/nonexistent/ca.pem"},
		"LongNodeID":   {URL: "nats://127.0.0.1:1", NodeID: strings.Repeat("x", 256)},
	} {
		t.Run(name, func(t *testing.T) {
			if b, err := Connect(cfg); err == nil {
				b.Close()
				t.Fatal("Connect succeeded")
			}
		})
	}
}

func TestClaims(t *testing.T) {
	c := natstest.Start(t, 3)
	a, b := startBus(t, c.URL(0), "a"), startBus(t, c.URL(2), "b")
	got := map[string]chan broker.Claim{"a": make(chan broker.Claim, 4), "b": make(chan broker.Claim, 4)}
	links := map[string]*link{}
	join := func(name string, bus *Bus) {
		l, err := bus.join(b1, func(*broker.Message, string) {}, func(c broker.Claim) { got[name] <- c })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		links[name] = l
	}
	// b joins first, so that the interest server 1 learns of is b's,
	// over the route, not a's own.
	join("b", b)
	c.WaitInterest(t, 0, "pubsub-claims."+b1)
	join("a", a)
	at := time.Unix(1_700_000_000, 123)
	if err := links["a"].Claim("client 1", at); err != nil {
		t.Fatal(err)
	}
	select {
	case cl := <-got["b"]:
		if cl.ClientID != "client 1" || cl.Node != "a" || !cl.At.Equal(at) {
			t.Fatalf("got %+v", cl)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no claim")
	}
	if err := a.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if len(got["a"]) != 0 {
		t.Fatal("a node got its own claim")
	}
}

func TestClaimSupersedes(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		name  string
		claim broker.Claim
		at    time.Time
		node  string
		want  bool
	}{
		{"Later", broker.Claim{Node: "a", At: t0.Add(time.Millisecond)}, t0, "b", true},
		{"Earlier", broker.Claim{Node: "a", At: t0}, t0.Add(time.Millisecond), "b", false},
		{"TieHigherNode", broker.Claim{Node: "b", At: t0}, t0, "a", true},
		{"TieLowerNode", broker.Claim{Node: "a", At: t0}, t0, "b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.claim.Supersedes(tc.at, tc.node); got != tc.want {
				t.Fatalf("Supersedes = %v, want %v", got, tc.want)
			}
			// Of two connections, exactly one supersedes the other.
			other := broker.Claim{Node: tc.node, At: tc.at}
			if other.Supersedes(tc.claim.At, tc.claim.Node) == tc.want {
				t.Fatal("both or neither connection stays")
			}
		})
	}
}

func TestQueueGroupOnThePublishersNode(t *testing.T) {
	c := natstest.Start(t, 1)
	a := startBus(t, c.URL(0), "a")
	la, ra := join(t, a, b1)
	la.AddInterest("q", "$share/g/q")
	natstest.Poll(t, "the group's subscription", func() bool { return c.Subscriptions(t, "pubsub.") == 1 })
	if err := la.Publish(&broker.Message{Topic: "q", Payload: []byte("mine")}); err != nil {
		t.Fatal(err)
	}
	if d := ra.next(t); string(d.m.Payload) != "mine" || d.group != "$share/g/q" {
		t.Fatalf("got %q for %q, want this node's message for its group", d.m.Payload, d.group)
	}
}
