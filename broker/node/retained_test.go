package node_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// gatedStore is an in-memory broker.RetainedStore whose Retained, for
// one broker, blocks until the test opens the gate: a disk or a shared
// store that is slow for one tenant.
type gatedStore struct {
	slowID  string
	loading chan struct{} // closed when Retained is first called for slowID
	gate    chan struct{} // Retained for slowID returns once it is closed
	once    sync.Once
	open    sync.Once

	mu   sync.Mutex
	msgs map[string]map[string]*broker.Message
}

func newGatedStore(slowID string) *gatedStore {
	return &gatedStore{slowID: slowID, loading: make(chan struct{}), gate: make(chan struct{}), msgs: map[string]map[string]*broker.Message{}}
}

func (g *gatedStore) release() { g.open.Do(func() { close(g.gate) }) }

func (g *gatedStore) Retain(_ context.Context, m *broker.Message) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.msgs[m.BrokerID] == nil {
		g.msgs[m.BrokerID] = map[string]*broker.Message{}
	}
	if len(m.Payload) == 0 {
		delete(g.msgs[m.BrokerID], m.Topic)
	} else {
		g.msgs[m.BrokerID][m.Topic] = m
	}
	return nil
}

// Retained ignores the filter: the node only ever loads "#".
func (g *gatedStore) Retained(_ context.Context, brokerID, _ string) ([]*broker.Message, error) {
	if brokerID == g.slowID {
		g.once.Do(func() { close(g.loading) })
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*broker.Message
	for _, m := range g.msgs[brokerID] {
		out = append(out, m)
	}
	return out, nil
}

func (g *gatedStore) DeleteRetained(_ context.Context, brokerID string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.msgs, brokerID)
	return nil
}

// TestSlowRetainedLoadStallsNoOtherBroker starts a broker whose retained
// messages take as long to load as the test wants, and checks that
// meanwhile another broker accepts connections and HTTP publishes and
// enforces a revocation; the slow broker's own client waits, then gets
// its retained message.
func TestSlowRetainedLoadStallsNoOtherBroker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "slow", "fast")
	st := newGatedStore("slow")
	t.Cleanup(st.release)
	_ = st.Retain(context.Background(), &broker.Message{BrokerID: "slow", Topic: "kept", Payload: []byte("loaded")})
	e.useNode(e.startNodeWith(func(c *node.Config) { c.RetainedStore = st }))

	slowDone := make(chan error, 1)
	go func() {
		tok, claims := e.brokers["slow"].token(t, nil)
		c, _, err := e.connect(e.brokers["slow"].host, claims.Subject, tok, nil)
		if err == nil {
			if _, err = c.subscribe(t, "kept", 0); err == nil {
				select {
				case m := <-c.msgs:
					if string(m.Payload) != "loaded" {
						t.Errorf("slow broker's retained message: %q", m.Payload)
					}
				case <-time.After(waitFor):
					t.Error("the slow broker's retained message never came")
				}
			}
		}
		slowDone <- err
	}()
	select {
	case <-st.loading:
	case <-time.After(waitFor):
		t.Fatal("the slow broker never started loading its retained messages")
	}

	// Before the fix, everything below waited for the gate; should it
	// again, the gate opens after waitFor and the test fails.
	var timedOut atomic.Bool
	guard := time.AfterFunc(waitFor, func() { timedOut.Store(true); st.release() })
	defer guard.Stop()

	fast, claims := e.mustConnect("fast")
	tok, _ := e.brokers["fast"].token(t, nil)
	e.publishHTTP("fast", tok, "topic=x", "over http")
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "fast", Revocation: &feed.Revocation{JTI: claims.ID}})
	fast.expectDisconnect(t, 0x87)
	if timedOut.Load() {
		t.Fatal("the fast broker waited for the slow broker's retained messages")
	}

	select {
	case err := <-slowDone:
		t.Fatalf("the slow broker's client connected before its retained messages were loaded: %v", err)
	default:
	}
	st.release()
	select {
	case err := <-slowDone:
		if err != nil {
			t.Fatalf("connect to the slow broker: %v", err)
		}
	case <-time.After(2 * waitFor):
		t.Fatal("the slow broker's client never connected")
	}
}

// TestBrokerDeletedWhileStarting deletes a broker while its server loads
// its retained messages: the waiting client is turned away, and the node
// runs no server for it.
func TestBrokerDeletedWhileStarting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "slow", "other")
	st := newGatedStore("slow")
	t.Cleanup(st.release)
	e.useNode(e.startNodeWith(func(c *node.Config) { c.RetainedStore = st }))

	slowDone := make(chan error, 1)
	go func() {
		tok, claims := e.brokers["slow"].token(t, nil)
		_, _, err := e.connect(e.brokers["slow"].host, claims.Subject, tok, nil)
		slowDone <- err
	}()
	select {
	case <-st.loading:
	case <-time.After(waitFor):
		t.Fatal("the slow broker never started loading its retained messages")
	}
	// Before the fix, Apply waited for the gate; should it again, the
	// gate opens after waitFor and the test fails.
	var timedOut atomic.Bool
	guard := time.AfterFunc(waitFor, func() { timedOut.Store(true); st.release() })
	defer guard.Stop()
	e.apply(feed.Event{Type: feed.TypeBrokerDeleted, BrokerID: "slow"})
	if timedOut.Load() {
		t.Fatal("deleting a broker waited for its retained messages to load")
	}
	st.release()
	select {
	case err := <-slowDone:
		if err == nil {
			t.Fatal("a client of a broker deleted while it started got connected")
		}
	case <-time.After(2 * waitFor):
		t.Fatal("the deleted broker's client was never turned away")
	}
	if got := e.metric("pubsub_node_brokers_active"); got != 0 {
		t.Errorf("brokers active = %d, want 0", got)
	}
}

// rawPublish sends a PUBLISH with packet id 1 on a raw connection and,
// for QoS 1 and 2, returns the reason code of the PUBACK or PUBREC.
func (r *rawConn) rawPublish(t testing.TB, topic string, qos byte, retain bool, payload string) byte {
	t.Helper()
	pp := packets.NewControlPacket(packets.PUBLISH)
	p := pp.Content.(*packets.Publish)
	p.Topic, p.QoS, p.Retain, p.Payload = topic, qos, retain, []byte(payload)
	if qos > 0 {
		p.PacketID = 1
	}
	if _, err := pp.WriteTo(r); err != nil {
		t.Fatalf("write PUBLISH: %v", err)
	}
	if qos == 0 {
		return 0
	}
	switch a := r.read(t).Content.(type) {
	case *packets.Puback:
		if qos != 1 {
			t.Fatalf("PUBACK for QoS %d", qos)
		}
		return a.ReasonCode
	case *packets.Pubrec:
		if qos != 2 {
			t.Fatalf("PUBREC for QoS %d", qos)
		}
		if a.ReasonCode < 0x80 {
			rel := packets.NewControlPacket(packets.PUBREL)
			rel.Content.(*packets.Pubrel).PacketID = 1
			_, _ = rel.WriteTo(r)
			r.read(t) // PUBCOMP
		}
		return a.ReasonCode
	default:
		t.Fatalf("got %T, want the acknowledgement", a)
	}
	return 0
}

// retainedOf returns the sorted topic=payload retained messages of
// broker id that filter matches, as a new subscriber gets them: before
// a marker published after subscribing.
func (e *env) retainedOf(id, filter, markerTopic string) []string {
	e.t.Helper()
	c, _ := e.mustConnect(id)
	defer c.Disconnect(&paho.Disconnect{})
	if _, err := c.subscribe(e.t, filter, 0); err != nil {
		e.t.Fatal(err)
	}
	if _, err := c.publish(e.t, markerTopic, 0, "marker"); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for {
		select {
		case m := <-c.msgs:
			if string(m.Payload) == "marker" && !m.Retain {
				slices.Sort(out)
				return out
			}
			out = append(out, m.Topic+"="+string(m.Payload))
		case <-time.After(waitFor):
			e.t.Fatalf("marker never came; got %q", out)
		}
	}
}

// TestRetainedMessageQuota fills a broker's retained messages: a retained
// publish on a new topic is refused with 0x97 (PUBACK and PUBREC), dropped
// at QoS 0, refused over HTTP with 507, and not delivered either;
// replacing and deleting still work, and deleting makes room.
func TestRetainedMessageQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxRetainedMessages: 3}, "a")
	host := e.brokers["a"].host
	tok, claims := e.brokers["a"].token(t, nil)
	r := e.dialRaw(host)
	if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	for i := 1; i <= 3; i++ {
		if got := r.rawPublish(t, fmt.Sprintf("t/%d", i), 1, true, "v1"); got != 0 {
			t.Fatalf("retained publish %d: %#x", i, got)
		}
	}
	// A live subscriber, past the retained messages it gets first (mochi
	// sends them after SUBACK, before it reads the subscriber's next
	// packet) and the deliveries of t/3 (sent after its PUBACK, before
	// mochi reads the publisher's next packet).
	live, _ := e.mustConnect("a")
	if _, err := live.subscribe(t, "t/#", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := live.publish(t, "t/start", 0, "start"); err != nil {
		t.Fatal(err)
	}
	live.skipUntil(t, "start")
	if got := r.rawPublish(t, "t/start", 1, false, "start2"); got != 0 {
		t.Fatalf("plain publish: %#x", got)
	}
	live.skipUntil(t, "start2")

	if got := r.rawPublish(t, "t/4", 1, true, "over"); got != 0x97 {
		t.Errorf("QoS 1 retained publish over the quota: PUBACK %#x, want 0x97", got)
	}
	if got := r.rawPublish(t, "t/4", 2, true, "over"); got != 0x97 {
		t.Errorf("QoS 2 retained publish over the quota: PUBREC %#x, want 0x97", got)
	}
	r.rawPublish(t, "t/4", 0, true, "over")
	status, _, body := e.request("POST", "a", "/events?topic=t/4&retain=true", tok, "over", nil)
	if status != 507 || errorCode(t, body) != 20021 {
		t.Errorf("HTTP retained publish over the quota: %d %s, want 507 with code 20021", status, body)
	}
	// The refused publishes reached nobody; a plain one still does.
	if got := r.rawPublish(t, "t/4", 1, false, "marker"); got != 0 {
		t.Fatalf("plain publish at the quota: %#x", got)
	}
	live.expectNoMessageBefore(t, "marker")
	if got := e.metric(`pubsub_retained_refused_total{broker="` + host + `",reason="messages"}`); got != 4 {
		t.Errorf("refusals counted: %d, want 4", got)
	}

	// At the quota, a topic's message is replaced, and deleted.
	if got := r.rawPublish(t, "t/1", 1, true, "v2"); got != 0 {
		t.Errorf("replacing at the quota: %#x", got)
	}
	e.publishHTTP("a", tok, "topic=t/3&retain=true", "v2")
	if got := r.rawPublish(t, "t/2", 1, true, ""); got != 0 {
		t.Errorf("deleting at the quota: %#x", got)
	}
	if got := r.rawPublish(t, "t/4", 2, true, "room"); got != 0 {
		t.Errorf("retained publish after a delete: %#x", got)
	}
	want := []string{"t/1=v2", "t/3=v2", "t/4=room"}
	if got := e.retainedOf("a", "t/#", "t/marker"); !slices.Equal(got, want) {
		t.Fatalf("retained messages: %q, want %q", got, want)
	}
}

// TestRetainedByteQuota caps a broker's retained bytes: growing past the
// cap is refused with 0x97, growing within it and shrinking work, and an
// expired message gives its bytes back.
func TestRetainedByteQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxRetainedBytes: 1000}, "b")
	host := e.brokers["b"].host
	tok, claims := e.brokers["b"].token(t, nil)
	r := e.dialRaw(host)
	if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	big := func(n int) string { return strings.Repeat("x", n) }
	for _, step := range []struct {
		name, topic, payload string
		want                 byte
	}{
		{"Fits", "big", big(900), 0},        // 903 bytes
		{"NewOverCap", "x", big(200), 0x97}, // 903 + 201
		{"GrowWithinCap", "big", big(990), 0},
		{"GrowOverCap", "big", big(1000), 0x97},
		{"Shrink", "big", big(100), 0},
		{"NewFits", "x", big(200), 0}, // 103 + 201
	} {
		if got := r.rawPublish(t, step.topic, 1, true, step.payload); got != step.want {
			t.Errorf("%s: PUBACK %#x, want %#x", step.name, got, step.want)
		}
	}
	if got := e.metric(`pubsub_retained_bytes{broker="` + host + `"}`); got != 304 {
		t.Errorf("retained bytes = %d, want 304", got)
	}
	if got := e.metric(`pubsub_retained_refused_total{broker="` + host + `",reason="bytes"}`); got != 2 {
		t.Errorf("byte refusals = %d, want 2", got)
	}

	// A message with a 1 s expiry counts until mochi drops it.
	c, _ := e.mustConnect("b")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	exp := uint32(1)
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "short", QoS: 1, Retain: true, Payload: []byte(big(500)), Properties: &paho.PublishProperties{MessageExpiry: &exp}}); err != nil {
		t.Fatal(err)
	}
	if got := e.metric(`pubsub_retained_bytes{broker="` + host + `"}`); got != 809 {
		t.Errorf("retained bytes = %d, want 809", got)
	}
	eventually(t, "the expired message's bytes to be freed", func() bool {
		return e.metric(`pubsub_retained_bytes{broker="`+host+`"}`) == 304
	})
}

// TestRetainedWillOverQuota connects a client whose will is retained
// while the broker is at its quota: the will is delivered, not retained.
func TestRetainedWillOverQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxRetainedMessages: 1}, "a")
	host := e.brokers["a"].host
	tok0 := mustToken(t, e, "a")
	e.publishHTTP("a", tok0, "topic=w/full&retain=true", "kept")
	live, _ := e.mustConnect("a")
	if _, err := live.subscribe(t, "w/#", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := live.publish(t, "w/start", 0, "start"); err != nil {
		t.Fatal(err)
	}
	live.skipUntil(t, "start")

	tok, claims := e.brokers["a"].token(t, nil)
	r := e.dialRaw(host)
	ack := r.connectV5With(t, claims.Subject, tok, func(c *packets.Connect) {
		c.WillFlag, c.WillTopic, c.WillMessage, c.WillRetain = true, "w/gone", []byte("bye"), true
	})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	_ = r.Close() // no DISCONNECT: the will goes
	live.expectMessage(t, "w/gone", "bye")
	if got := e.retainedOf("a", "w/#", "w/marker"); !slices.Equal(got, []string{"w/full=kept"}) {
		t.Fatalf("retained messages: %q", got)
	}
	if got := e.metric(`pubsub_retained_refused_total{broker="` + host + `",reason="messages"}`); got != 1 {
		t.Errorf("refusals counted: %d, want 1", got)
	}
}

// TestRetainedQuotaCountsStoredMessages restarts with a broker's quota
// already full of stored messages: a new topic is refused, a stored one
// replaced.
func TestRetainedQuotaCountsStoredMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	st := newGatedStore("")
	for _, name := range []string{"s/1", "s/2"} {
		_ = st.Retain(context.Background(), &broker.Message{BrokerID: "a", Topic: name, Payload: []byte("stored")})
	}
	e.useNode(e.startNodeWith(func(c *node.Config) {
		c.RetainedStore = st
		c.Limits.MaxRetainedMessages = 2
	}))
	tok, claims := e.brokers["a"].token(t, nil)
	r := e.dialRaw(e.brokers["a"].host)
	if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	if got := r.rawPublish(t, "s/3", 1, true, "new"); got != 0x97 {
		t.Errorf("new topic over the stored quota: %#x, want 0x97", got)
	}
	if got := r.rawPublish(t, "s/1", 1, true, "replaced"); got != 0 {
		t.Errorf("replacing a stored message: %#x", got)
	}
}

// skipUntil reads messages until one with payload, such as a marker
// published after the retained messages a subscription gets first.
func (c *client) skipUntil(t testing.TB, payload string) {
	t.Helper()
	for {
		select {
		case m := <-c.msgs:
			if string(m.Payload) == payload {
				return
			}
		case <-time.After(waitFor):
			t.Fatalf("no message %q", payload)
		}
	}
}

func mustToken(t *testing.T, e *env, id string) string {
	tok, _ := e.brokers[id].token(t, nil)
	return tok
}

// TestWaitForStartingBrokerIsBounded keeps a broker's start from ending:
// a second client of it is turned away after the connect timeout
// instead of waiting with the first.
func TestWaitForStartingBrokerIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "slow")
	st := newGatedStore("slow")
	t.Cleanup(st.release)
	e.useNode(e.startNodeWith(func(c *node.Config) {
		c.RetainedStore = st
		c.Limits.ConnectTimeout = 200 * time.Millisecond
	}))
	defer st.release() // before the node's Close, which waits for the start
	go func() {
		tok, claims := e.brokers["slow"].token(t, nil)
		_, _, _ = e.connect(e.brokers["slow"].host, claims.Subject, tok, nil)
	}()
	select {
	case <-st.loading:
	case <-time.After(waitFor):
		t.Fatal("the slow broker never started loading its retained messages")
	}
	tok, claims := e.brokers["slow"].token(t, nil)
	r := e.dialRaw(e.brokers["slow"].host)
	cp := packets.NewControlPacket(packets.CONNECT)
	c := cp.Content.(*packets.Connect)
	c.ProtocolName, c.ProtocolVersion, c.ClientID, c.KeepAlive = "MQTT", 5, claims.Subject, 30
	c.Password, c.PasswordFlag = []byte(tok), true
	if _, err := cp.WriteTo(r); err != nil {
		t.Fatal(err)
	}
	r.expectClosed(t, 0) // within waitFor, or it fails
	if !strings.Contains(e.logs.String(), "broker server still starting") {
		t.Error("the turned-away connection was not logged")
	}
}

// TestSlowRetainedLoadOverHTTP is TestSlowRetainedLoadStallsNoOtherBroker
// with the slow broker's start triggered by an HTTP publish.
func TestSlowRetainedLoadOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "slow", "fast")
	st := newGatedStore("slow")
	t.Cleanup(st.release)
	e.useNode(e.startNodeWith(func(c *node.Config) { c.RetainedStore = st }))
	slowTok, _ := e.brokers["slow"].token(t, nil)
	slowDone := make(chan int, 1)
	go func() {
		status, _, _ := e.request("POST", "slow", "/events?topic=x", slowTok, "hi", nil)
		slowDone <- status
	}()
	select {
	case <-st.loading:
	case <-time.After(waitFor):
		t.Fatal("the slow broker never started loading its retained messages")
	}
	var timedOut atomic.Bool
	guard := time.AfterFunc(waitFor, func() { timedOut.Store(true); st.release() })
	defer guard.Stop()
	fast, claims := e.mustConnect("fast")
	tok, _ := e.brokers["fast"].token(t, nil)
	e.publishHTTP("fast", tok, "topic=x", "over http")
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "fast", Revocation: &feed.Revocation{JTI: claims.ID}})
	fast.expectDisconnect(t, 0x87)
	if timedOut.Load() {
		t.Fatal("the fast broker waited for the slow broker's retained messages")
	}
	st.release()
	if got := <-slowDone; got != 200 {
		t.Fatalf("HTTP publish to the slow broker: %d", got)
	}
}
