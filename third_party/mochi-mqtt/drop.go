package mqtt

import (
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Fork: what remains of a disconnected client can be dropped on demand,
// not only when its session expires: the broker node drops the session
// and the delayed will of a client whose token is revoked.

// deleteIf removes the client of id only if it is cl, and reports
// whether it did.
func (cl *Clients) deleteIf(id string, c *Client) bool {
	cl.Lock()
	defer cl.Unlock()
	if cl.internal[id] != c {
		return false
	}
	delete(cl.internal, id)
	return true
}

// Retains reports whether the server still holds something of the
// disconnected client cl: its session (subscriptions, inflight and queued
// messages), or its delayed will.
func (s *Server) Retains(cl *Client) bool {
	if c, ok := s.Clients.Get(cl.ID); ok {
		return c == cl
	}
	_, ok := s.loop.willDelayed.Get(cl.ID)
	return ok
}

// DropSession drops what remains of the disconnected client cl: its
// session, which the server forgets as if it had expired (OnClientExpired
// is called), and its delayed will. It does nothing when another client
// has taken cl's id since, and reports whether anything was dropped.
func (s *Server) DropSession(cl *Client) bool {
	if c, ok := s.Clients.Get(cl.ID); ok && c != cl {
		return false
	}
	_, willed := s.loop.willDelayed.Get(cl.ID)
	s.loop.willDelayed.Delete(cl.ID)
	atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
	if !s.Clients.deleteIf(cl.ID, cl) {
		return willed
	}
	s.UnsubscribeClient(cl)
	cl.ClearInflights()
	s.hooks.OnClientExpired(cl)
	return true
}

// dropRefusedInflights drops, from the inflight messages a resumed
// session inherits, the deliveries its new connection may not read: a
// session resumed with other credentials keeps only what they allow
// (OnACLCheck, as for a SUBSCRIBE filter). Each is counted as dropped
// (OnQosDropped). Upstream resent them all.
func (s *Server) dropRefusedInflights(cl *Client) {
	if !s.hooks.Provides(OnACLCheck) {
		return
	}
	for _, tk := range cl.State.Inflight.GetAll(false) {
		if tk.FixedHeader.Type != packets.Publish || isInbound(tk) || s.hooks.OnACLCheck(cl, tk.TopicName, false) {
			continue
		}
		if cl.State.Inflight.Delete(tk.PacketID) {
			atomic.AddInt64(&s.Info.Inflight, -1)
			s.hooks.OnQosDropped(cl, tk)
		}
	}
}
