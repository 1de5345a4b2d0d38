package node_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
