package edge_test

import (
	"context"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestApplyDoesNotWaitOnBus is issue 14's finding 3: an SSE request on
// one broker whose bus subscription is slow, and a broker whose bus is
// slow to come up, must not hold up a configuration change for the
// others. Broker a's Subscribe and broker d's Bus block until the end
// of the test; meanwhile broker a changes, a token of broker b is
// revoked and broker c appears: Apply returns, b's stream ends and c
// serves.
func TestApplyDoesNotWaitOnBus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, edge.Config{}, []string{"a", "b", "c", "d"}, []string{"a", "b", "d"})
	e.backend.buses["a"].block["slow/#"] = true
	e.backend.block["d"] = true
	released := false
	release := func() {
		if !released {
			released = true
			close(e.backend.buses["a"].unblock)
			close(e.backend.unblock)
		}
	}
	t.Cleanup(release)

	tokB, jtiB := e.brokers["b"].token(t)
	victim := e.stream("b", "news", tokB)

	// Broker a's stream waits in Subscribe, broker d's publish in Bus.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tokA, _ := e.brokers["a"].token(t)
	slow := make(chan struct{})
	go func() {
		defer close(slow)
		if resp, err := e.do(ctx, "GET", "a", "/events?topic=slow/%23", tokA, ""); err == nil {
			resp.Body.Close()
		}
	}()
	tokD, _ := e.brokers["d"].token(t)
	slowPub := make(chan int, 1)
	go func() {
		resp, err := e.do(ctx, "POST", "d", "/events?topic=t", tokD, "x")
		if err != nil {
			slowPub <- 0
			return
		}
		resp.Body.Close()
		slowPub <- resp.StatusCode
	}()
	within(t, chanOf(e.backend.buses["a"].subscribe), "broker a's Subscribe")
	within(t, chanOf(e.backend.bus), "broker d's Bus")

	fa := e.brokers["a"].feed
	fa.Expiration = 3600
	fc := e.brokers["c"].feed
	applied := e.apply(
		feed.Event{Type: feed.TypeBroker, Broker: &fa},
		feed.Event{Type: feed.TypeRevoked, BrokerID: "b", Revocation: &feed.Revocation{JTI: jtiB}},
		feed.Event{Type: feed.TypeBroker, Broker: &fc},
	)
	within(t, applied, "Apply")
	if ev := next(t, victim); ev.event != "stream-error" || errorCode(t, ev.data) != 20042 {
		t.Fatalf("broker b's stream got %+v, want stream-error 20042 (revoked)", ev)
	}
	tokC, _ := e.brokers["c"].token(t)
	if status, _, body := e.publish("c", "hello", tokC, "x"); status != 200 {
		t.Fatalf("publish to the new broker: %d %s", status, body)
	}

	// Once the buses answer, the waiting requests complete.
	release()
	select {
	case status := <-slowPub:
		if status != 200 {
			t.Fatalf("publish on broker d once its bus came up: %d", status)
		}
	case <-time.After(waitFor):
		t.Fatal("publish on broker d: no answer once its bus came up")
	}
	cancel()
	within(t, slow, "broker a's stream")
}

// chanOf returns a channel closed once ch has received a value.
func chanOf[T any](ch <-chan T) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		<-ch
		close(done)
	}()
	return done
}
