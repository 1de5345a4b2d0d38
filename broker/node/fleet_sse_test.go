package node_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// publishSeen publishes body to topic over HTTP on e and waits until the
// watcher stream, open on some node, has it: the journal then holds it,
// after everything published before.
func publishSeen(t *testing.T, e *env, tok, topic, body string, watcher *sseStream) sseEvent {
	t.Helper()
	e.publishHTTP("a", tok, "topic="+topic, body)
	return watcher.expect(t, body)
}

func epochOf(id string) string { e, _, _ := strings.Cut(id, "-"); return e }

// TestFleetSSEResume checks that an SSE client resumes on another node:
// it gets exactly what it missed, whichever node it was published on,
// in order, then the live messages, with ids every node reads alike.
func TestFleetSSEResume(t *testing.T) {
	f := newFleet(t, 3, nil, "a")
	tok, _ := f.n1.brokers["a"].token(t, nil)
	const query = "topic=r/%2B&topic=other"
	watcher := f.n2.subscribeSSE("a", query+"&topic=unrelated", tok, nil)

	s1 := f.n1.subscribeSSE("a", query, tok, nil)
	publishSeen(t, f.n1, tok, "r/1", "one", watcher)
	id := s1.expect(t, "one").id
	s1.resp.Body.Close()

	// Published while the client is away, on both nodes, over HTTP and
	// MQTT, and one message of a topic the client does not follow.
	publishSeen(t, f.n1, tok, "r/1", "two", watcher)
	publishSeen(t, f.n2, tok, "other", "three", watcher)
	publishSeen(t, f.n1, tok, "unrelated", "not for the client", watcher)
	mq, _ := f.n2.mustConnect("a")
	if _, err := mq.publish(t, "r/2", 1, "four"); err != nil {
		t.Fatal(err)
	}
	watcher.expect(t, "four")

	s2 := f.n2.subscribeSSE("a", query, tok, map[string]string{"Last-Event-ID": id})
	s2.expect(t, "two")
	s2.expect(t, "three")
	four := s2.expect(t, "four")
	live := publishSeen(t, f.n1, tok, "r/3", "five", watcher)
	five := s2.expect(t, "five") // live, after the missed ones: no gap, no repeat
	if epochOf(five.id) != epochOf(live.id) || epochOf(four.id) != epochOf(id) {
		t.Errorf("ids %q, %q, %q and %q: the epochs differ between nodes", id, four.id, five.id, live.id)
	}

	// Back on node 1 from node 2's newest id: nothing again, then live.
	s3 := f.n1.subscribeSSE("a", query, tok, map[string]string{"Last-Event-ID": five.id})
	publishSeen(t, f.n2, tok, "other", "six", watcher)
	s3.expect(t, "six")
	s2.expect(t, "six")
}

// TestFleetSSEOutsideWindow resumes from an id whose messages the
// journal no longer holds all of (it keeps 3 per broker here): the
// stream gets what the journal still has after the id, with the
// retained messages first when durable=true.
func TestFleetSSEOutsideWindow(t *testing.T) {
	f := newFleet(t, 1, func(cfg *node.Config) { cfg.NATS.JournalMessages = 3 }, "a")
	tok, _ := f.n1.brokers["a"].token(t, nil)
	// The watcher's filter differs from the client's, so that node 2 has
	// no replay buffer of the client's filter: it reads the journal.
	watcher := f.n1.subscribeSSE("a", "topic=w/%23", tok, nil)
	s1 := f.n1.subscribeSSE("a", "topic=w", tok, nil)
	publishSeen(t, f.n1, tok, "w", "m0", watcher)
	id := s1.expect(t, "m0").id
	s1.resp.Body.Close()
	for _, m := range []string{"m1", "m2", "m3", "m4"} {
		publishSeen(t, f.n1, tok, "w", m, watcher)
	}
	f.n1.publishHTTP("a", tok, "topic=w&retain=true", "m5")
	watcher.expect(t, "m5")

	plain := f.n2.subscribeSSE("a", "topic=w", tok, map[string]string{"Last-Event-ID": id})
	var last sseEvent
	for _, m := range []string{"m3", "m4", "m5"} {
		last = plain.expect(t, m)
	}
	durable := f.n2.subscribeSSE("a", "topic=w&durable=true", tok, map[string]string{"Last-Event-ID": id})
	for _, m := range []string{"m5", "m3", "m4", "m5"} {
		durable.expect(t, m)
	}
	// Within the window, durable=true sends no retained message.
	resumed := f.n2.subscribeSSE("a", "topic=w&durable=true", tok, map[string]string{"Last-Event-ID": last.id})
	publishSeen(t, f.n1, tok, "w", "m6", watcher)
	resumed.expect(t, "m6")
}

// TestFleetSSERevokedCannotResume revokes a token while its stream is
// away: resuming on another node is refused, as any request with it.
func TestFleetSSERevokedCannotResume(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	tok, claims := f.n1.brokers["a"].token(t, nil)
	s1 := f.n1.subscribeSSE("a", "topic=v", tok, nil)
	f.n1.publishHTTP("a", tok, "topic=v", "one")
	id := s1.expect(t, "one").id
	s1.resp.Body.Close()
	f.n2.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: claims.ID}})
	if s, status, _ := f.n2.trySSE("a", "topic=v", tok, map[string]string{"Last-Event-ID": id}); s != nil || status != 401 {
		t.Fatalf("a revoked token resumes with %d, want 401", status)
	}
}

// TestFleetSSECatchesUpAfterNATS stops the fleet's only NATS server: an
// SSE stream waits, then gets what its node accepted meanwhile, in
// order, once NATS is back.
func TestFleetSSECatchesUpAfterNATS(t *testing.T) {
	f := newFleet(t, 1, nil, "a")
	tok, _ := f.n1.brokers["a"].token(t, nil)
	sse := f.n1.subscribeSSE("a", "topic=y", tok, nil)
	pub, _ := f.n1.mustConnect("a")
	if _, err := pub.publish(t, "y", 1, "before"); err != nil {
		t.Fatal(err)
	}
	sse.expect(t, "before")

	f.nats.Stop(0)
	natstest.Poll(t, "node 1 to see NATS gone", func() bool { return f.n1.metric("pubsub_fleet_nats_connected") == 0 })
	for _, m := range []string{"during 1", "during 2"} {
		if _, err := pub.publish(t, "y", 1, m); err != nil {
			t.Fatal(err)
		}
	}
	// A topic no stream of the node follows needs the journal: the
	// stream ends at once. One it follows does not.
	f.n1.subscribeSSE("a", "topic=new", tok, nil).expectEnd(t, 20040)
	same := f.n1.subscribeSSE("a", "topic=y", tok, nil)
	f.nats.Restart(t, 0)
	same.expect(t, "during 1")
	sse.expect(t, "during 1")
	sse.expect(t, "during 2")
	if _, err := pub.publish(t, "y", 1, "after"); err != nil {
		t.Fatal(err)
	}
	sse.expect(t, "after")
}

// TestFleetSSEJournalGoesWithBroker deletes a broker whose SSE journal
// exists: its stream ends, and its journal is deleted from JetStream.
func TestFleetSSEJournalGoesWithBroker(t *testing.T) {
	f := newFleet(t, 1, nil, "a", "gone")
	tok, _ := f.n1.brokers["gone"].token(t, nil)
	sse := f.n1.subscribeSSE("gone", "topic=z", tok, nil)
	nc, err := nats.Connect(f.nats.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(t.Context(), natsbus.JournalStream("gone")); err != nil {
		t.Fatalf("the broker's journal: %v", err)
	}
	f.n1.apply(feed.Event{Type: feed.TypeBrokerDeleted, BrokerID: "gone"})
	sse.expectEnd(t, 20040)
	natstest.Poll(t, "the journal to be deleted", func() bool {
		_, err := js.Stream(t.Context(), natsbus.JournalStream("gone"))
		return errors.Is(err, jetstream.ErrStreamNotFound)
	})
}
