package mqtt

import (
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
