package mqtt

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A resumed session's inherited deliveries are checked against the new
// connection's credentials; the refused ones are dropped.
func TestDropRefusedInflights(t *testing.T) {
	s := New(&Options{Logger: logger})
	defer s.Close()
	require.NoError(t, s.AddHook(&readChecks{allowed: "ok/"}, nil))

	cl, _, _ := newTestClient()
	cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "secret/x"})
	cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, TopicName: "ok/x"})
	cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 3})
	s.dropRefusedInflights(cl)

	_, ok := cl.State.Inflight.Get(1)
	require.False(t, ok, "the refused delivery is still inflight")
	_, ok = cl.State.Inflight.Get(2)
	require.True(t, ok, "the allowed delivery was dropped")
	_, ok = cl.State.Inflight.GetInbound(3)
	require.True(t, ok, "the client's own flow was dropped")
}

// DropSession forgets a disconnected client's session and delayed will,
// but never those of a newer client with the same id.
func TestDropSession(t *testing.T) {
	s := newServer()
	defer s.Close()

	old, _, _ := newTestClient()
	old.ID = "c"
	s.Clients.Add(old)
	s.loop.willDelayed.Add("c", packets.Packet{TopicName: "will"})
	require.True(t, s.Retains(old))
	require.True(t, s.DropSession(old))
	_, ok := s.Clients.Get("c")
	require.False(t, ok, "the session is still kept")
	_, ok = s.loop.willDelayed.Get("c")
	require.False(t, ok, "the delayed will is still pending")
	require.False(t, s.Retains(old))
	require.False(t, s.DropSession(old), "a second drop found something")

	newer, _, _ := newTestClient()
	newer.ID = "c"
	s.Clients.Add(newer)
	require.False(t, s.Retains(old))
	require.False(t, s.DropSession(old), "dropped a newer client's session")
	got, ok := s.Clients.Get("c")
	require.True(t, ok)
	require.Same(t, newer, got)
}

// A session holds at most MaximumClientSubscriptions subscriptions; a
// filter past it is refused with 0x97, and replacing one still works.
func TestMaximumClientSubscriptions(t *testing.T) {
	s := newServer()
	s.Options.Capabilities.MaximumClientSubscriptions = 2
	defer s.Close()
	cl, r, _ := newTestClient()
	cl.Properties.ProtocolVersion = 5
	defer cl.Stop(errClientStop)

	sub := func(filters ...string) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1, ProtocolVersion: 5}
		for _, f := range filters {
			pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
		}
		done := make(chan []byte, 1)
		go func() {
			buf := make([]byte, 64)
			n, _ := r.Read(buf)
			done <- buf[:n]
		}()
		require.NoError(t, s.processSubscribe(cl, pk))
		return <-done
	}
	ack := sub("a", "b", "c")
	require.Equal(t, []byte{1, 1, packets.ErrQuotaExceeded.Code}, ack[len(ack)-3:], "SUBACK % x", ack)
	ack = sub("a", "d")
	require.Equal(t, []byte{1, packets.ErrQuotaExceeded.Code}, ack[len(ack)-2:], "SUBACK % x", ack)
	require.Equal(t, 2, cl.State.Subscriptions.Len())
}

// A session the server does not hold resumes through ResumeSession, with
// the checks of a takeover: a subscription the new credentials are
// refused is kept, and the client's deliveries are checked. A clean start,
// or a session held here, never asks for it.
func TestResumeSession(t *testing.T) {
	s := New(&Options{Logger: logger, ACLCoversFilters: true})
	defer s.Close()
	require.NoError(t, s.AddHook(&readChecks{allowed: "ok/"}, nil))
	var asked []string
	s.Options.ResumeSession = func(cl *Client) ([]packets.Subscription, bool) {
		asked = append(asked, cl.ID)
		if cl.ID != "kept" {
			return nil, false
		}
		return []packets.Subscription{{Filter: "ok/#", Qos: 1, Identifier: 7}, {Filter: "secret/#", Qos: 2, NoLocal: true}}, true
	}
	connect := func(id string, clean bool) (*Client, bool) {
		cl, _, _ := newTestClient()
		cl.ID = id
		cl.Properties.ProtocolVersion = 5
		return cl, s.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{ClientIdentifier: id, Clean: clean}}, cl)
	}

	cl, present := connect("kept", false)
	require.True(t, present, "the resumed session is not present")
	require.Equal(t, 2, cl.State.Subscriptions.Len())
	sub, ok := cl.State.Subscriptions.Get("ok/#")
	require.True(t, ok)
	require.Equal(t, 7, sub.Identifier)
	require.Equal(t, byte(1), sub.Qos)
	require.Contains(t, s.Topics.Subscribers("ok/x").Subscriptions, "kept")
	require.Contains(t, s.Topics.Subscribers("secret/x").Subscriptions, "kept")
	require.True(t, cl.checkDeliveries, "deliveries through the refused secret/# are not checked")
	require.Equal(t, int64(2), atomic.LoadInt64(&s.Info.Subscriptions))

	_, present = connect("other", false)
	require.False(t, present, "a session nobody keeps is present")

	_, present = connect("kept", true)
	require.False(t, present, "a clean start resumed a session")

	s.Clients.Add(cl) // held here: taken over without asking
	asked = nil
	_, present = connect("kept", false)
	require.True(t, present)
	require.Empty(t, asked, "asked for a session held here")
}

// TestSessionFinishClearsWillBesideAnEmbedder ends a session that
// disconnected cleanly while an embedder clears the same client's will
// (the node does, for a revocation's DISCONNECT): under -race, the two
// must not conflict, and the will is gone.
func TestSessionFinishClearsWillBesideAnEmbedder(t *testing.T) {
	s := newServer()
	for range 50 {
		cl, _, _ := newTestClient()
		cl.Properties.Will = Will{Flag: 1, TopicName: "a/b", Payload: []byte("gone")}
		s.Clients.Add(cl)
		s.Listeners.ClientsWg.Add(1)
		ss := &session{s: s, cl: cl, done: func(error) {}}
		cleared := make(chan struct{})
		go func() {
			defer close(cleared)
			atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
		}()
		ss.finish(nil)
		<-cleared
		require.Equal(t, uint32(0), atomic.LoadUint32(&cl.Properties.Will.Flag))
	}
}
