package edge

import (
	"github.com/openpubsub/pubsub/pkg/clients"
)

// Streams returns the SSE streams open on this node, of every broker,
// for the control plane's list of connected clients (transport "sse").
// Each hub's index is locked only to copy it.
func (s *Server) Streams() []clients.Client {
	s.mu.Lock()
	hubs := make([]*hub, 0, len(s.hubs))
	for _, h := range s.hubs {
		hubs = append(hubs, h)
	}
	s.mu.Unlock()
	var out []clients.Client
	for _, h := range hubs {
		for _, sess := range h.sessions.List() {
			c, ok := sess.(*client)
			if !ok {
				continue
			}
			subs := c.filters
			if len(subs) > clients.MaxSubscriptions {
				subs = subs[:clients.MaxSubscriptions]
			}
			out = append(out, clients.Client{
				BrokerID: h.id, ClientID: c.g.ClientID, JTI: c.g.JTI, Transport: clients.TransportSSE, Remote: c.remote,
				ConnectedAt: c.since.UTC(), Subscriptions: subs, Subscribed: len(c.filters), Inflight: len(c.q),
			})
		}
	}
	return out
}
