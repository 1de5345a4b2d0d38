package mqtt

import (
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Fork: what a fleet of servers needs to carry messages between them
// (FORK.md, entry 60): which filters have subscribers here, and a way to
// hand this server's subscribers a message another server accepted.

// InterestFn is called with a topic filter when it gains its first
// subscriber on the server (on is true), or loses its last one (on is
// false). Clients, shared groups (the filter is given without its
// $share/group/ prefix) and inline subscriptions all count. It is called
// under the topic index's lock, in the order of the changes, so it must
// not block nor call back into the server.
type InterestFn func(filter string, on bool)

// subscribers counts what is subscribed to the particle's filter.
func (n *particle) subscribers() int {
	return n.subscriptions.Len() + n.shared.Len() + n.inlineSubscriptions.Len()
}

// interestChanged calls x.Interest when a filter's subscribers went from
// none to some or back; d is the number of levels ($share/group) before
// the filter proper.
func (x *TopicsIndex) interestChanged(filter string, d, was, now int) {
	if x.Interest == nil || (was == 0) == (now == 0) {
		return
	}
	for ; d > 0; d-- {
		_, filter, _ = strings.Cut(filter, "/")
	}
	x.Interest(filter, now > 0)
}

// DeliverLocal hands pk, a message another server of a fleet accepted,
// to this server's matching subscribers, exactly as a local publish is
// fanned out (subscription options, No Local against pk.Origin, shared
// groups, inline subscriptions), but without the publish hooks, retained
// storage or OnPublished, which ran where it was published.
func (s *Server) DeliverLocal(pk packets.Packet) {
	pk.FixedHeader.Type = packets.Publish
	pk.FixedHeader.Dup = false
	s.publishToSubscribers(pk)
}
