package mqtt

import (
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Fork: what a fleet of servers needs to carry messages between them
// (FORK.md, entry 34): which filters have subscribers here, and a way to
// hand this server's subscribers a message another server accepted.

// InterestFn is called with a topic filter when it gains its first
// subscriber on the server (on is true), or loses its last one (on is
// false). Clients and inline subscriptions count together (shared is
// ""); each shared subscription counts on its own, shared being the
// whole $share/group/filter and filter the part after the group. It is
// called under the topic index's lock, in the order of the changes, so
// it must not block nor call back into the server.
type InterestFn func(filter, shared string, on bool)

// plainSubscribers counts the clients and inline subscriptions of the
// particle's filter.
func (n *particle) plainSubscribers() int {
	return n.subscriptions.Len() + n.inlineSubscriptions.Len()
}

// groupSize counts the members of a shared subscription group.
func (s *SharedSubscriptions) groupSize(group string) int {
	s.RLock()
	defer s.RUnlock()
	return len(s.internal[group])
}

// interestChanged calls x.Interest when a filter's subscribers (or a
// shared subscription's members) went from none to some or back.
func (x *TopicsIndex) interestChanged(filter, shared string, was, now int) {
	if x.Interest == nil || (was == 0) == (now == 0) {
		return
	}
	if shared != "" {
		_, filter, _ = strings.Cut(filter, "/")
		_, filter, _ = strings.Cut(filter, "/")
	}
	x.Interest(filter, shared, now > 0)
}

// DeliverLocal hands pk, a message another server of a fleet accepted,
// to this server's matching subscribers, exactly as a local publish is
// fanned out (subscription options, No Local against pk.Origin, shared
// groups unless Options.FleetShared, inline subscriptions), but without
// the publish hooks, retained storage or OnPublished, which ran where it
// was published.
func (s *Server) DeliverLocal(pk packets.Packet) {
	pk.FixedHeader.Type = packets.Publish
	pk.FixedHeader.Dup = false
	s.publishToSubscribers(pk)
}

// DeliverShared hands pk to one member, on this server, of the shared
// subscription shared ($share/group/filter), which the fleet chose to
// serve it (Options.FleetShared). It reports whether a member had it.
func (s *Server) DeliverShared(pk packets.Packet, shared string) bool {
	pk.FixedHeader.Type = packets.Publish
	pk.FixedHeader.Dup = false
	if pk.Created == 0 {
		pk.Created = time.Now().Unix()
	}
	for id, sub := range s.Topics.subscribersOf(pk.TopicName).Shared[shared] {
		if cl, ok := s.Clients.Get(id); ok {
			_, _ = s.deliver(cl, &sub, &pk, nil)
			return true
		}
	}
	return false
}
