package mqtt

import (
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

func TestTopicsInterest(t *testing.T) {
	x := NewTopicsIndex()
	var got []string
	x.Interest = func(filter, shared string, on bool) {
		if shared != "" {
			filter += " for " + shared
		}
		if on {
			got = append(got, "+"+filter)
		} else {
			got = append(got, "-"+filter)
		}
	}
	step := func(name string, do func(), want ...string) {
		t.Helper()
		got = nil
		do()
		require.Equal(t, want, got, name)
	}
	step("first subscriber", func() { x.Subscribe("cl1", packets.Subscription{Filter: "a/+"}) }, "+a/+")
	step("same client again", func() { x.Subscribe("cl1", packets.Subscription{Filter: "a/+"}) })
	step("second client", func() { x.Subscribe("cl2", packets.Subscription{Filter: "a/+"}) })
	step("shared group on the same filter", func() { x.Subscribe("cl3", packets.Subscription{Filter: SharePrefix + "/g/a/+"}) }, "+a/+ for $share/g/a/+")
	step("second member", func() { x.Subscribe("cl4", packets.Subscription{Filter: SharePrefix + "/g/a/+"}) })
	step("another group", func() { x.Subscribe("cl4", packets.Subscription{Filter: SharePrefix + "/h/a/+"}) }, "+a/+ for $share/h/a/+")
	step("first client leaves", func() { x.Unsubscribe("a/+", "cl1") })
	step("a client never subscribed", func() { x.Unsubscribe("a/+", "cl9") })
	step("second client leaves", func() { x.Unsubscribe("a/+", "cl2") }, "-a/+")
	step("a member leaves", func() { x.Unsubscribe(SharePrefix+"/g/a/+", "cl3") })
	step("the last member leaves", func() { x.Unsubscribe(SharePrefix+"/g/a/+", "cl4") }, "-a/+ for $share/g/a/+")
	step("the other group leaves", func() { x.Unsubscribe(SharePrefix+"/h/a/+", "cl4") }, "-a/+ for $share/h/a/+")
	step("inline subscription", func() {
		x.InlineSubscribe(InlineSubscription{Subscription: packets.Subscription{Filter: "c", Identifier: 1}})
	}, "+c")
	step("inline unsubscription", func() { x.InlineUnsubscribe(1, "c") }, "-c")
	step("unknown filter", func() { x.Unsubscribe("d", "cl1") })
}

// publishCounter counts the publish hooks a server runs.
type publishCounter struct {
	HookBase
	published, retained atomic.Int32
}

func (h *publishCounter) ID() string { return "counter" }
func (h *publishCounter) Provides(b byte) bool {
	return b == OnPublish || b == OnPublished || b == OnRetainMessage
}
func (h *publishCounter) OnPublish(_ *Client, pk packets.Packet) (packets.Packet, error) {
	h.published.Add(1)
	return pk, nil
}
func (h *publishCounter) OnPublished(*Client, packets.Packet)            { h.published.Add(1) }
func (h *publishCounter) OnRetainMessage(*Client, packets.Packet, int64) { h.retained.Add(1) }

func TestDeliverLocal(t *testing.T) {
	s := newServerWithInlineClient()
	hook := new(publishCounter)
	require.NoError(t, s.AddHook(hook, nil))
	var got []packets.Packet
	require.NoError(t, s.Subscribe("a/+", 1, func(_ *Client, _ packets.Subscription, pk packets.Packet) {
		got = append(got, pk)
	}))

	s.DeliverLocal(packets.Packet{
		FixedHeader: packets.FixedHeader{Qos: 1, Retain: true, Dup: true},
		TopicName:   "a/b",
		Payload:     []byte("hello"),
		Origin:      "elsewhere",
	})
	require.Len(t, got, 1)
	require.Equal(t, "hello", string(got[0].Payload))
	require.Equal(t, byte(packets.Publish), got[0].FixedHeader.Type)
	require.False(t, got[0].FixedHeader.Dup)
	require.Zero(t, hook.published.Load(), "publish hooks ran")
	require.Zero(t, hook.retained.Load(), "retain hook ran")
	require.Zero(t, s.Topics.Retained.Len(), "the message was retained here")
}

func TestFleetSharedDelivery(t *testing.T) {
	s := newServer()
	s.Options.FleetShared = true
	cls := map[string]*Client{}
	for _, id := range []string{"m1", "m2", "plain"} {
		cl, _, _ := newTestClient()
		cl.ID = id
		s.Clients.Add(cl)
		cls[id] = cl
	}
	s.Topics.Subscribe("m1", packets.Subscription{Filter: SharePrefix + "/g/a/+", Qos: 1})
	s.Topics.Subscribe("m2", packets.Subscription{Filter: SharePrefix + "/g/a/+", Qos: 1})
	s.Topics.Subscribe("plain", packets.Subscription{Filter: "a/+", Qos: 1})
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b", Payload: []byte("x")}
	queued := func() map[string]int {
		out := map[string]int{}
		for id, cl := range cls {
			out[id] = cl.State.Inflight.Len()
		}
		return out
	}

	s.DeliverLocal(pk)
	require.Equal(t, map[string]int{"m1": 0, "m2": 0, "plain": 1}, queued(), "a local fan-out left the group to the fleet")
	require.True(t, s.DeliverShared(pk, SharePrefix+"/g/a/+"))
	got := queued()
	require.Equal(t, 1, got["m1"]+got["m2"], "one member of the group had it")
	require.Equal(t, 1, got["plain"])
	require.False(t, s.DeliverShared(pk, SharePrefix+"/other/a/+"), "a group with no member here")
}
