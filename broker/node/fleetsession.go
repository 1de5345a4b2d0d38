package node

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
)

// A persistent session (Clean Start 0, Session Expiry above 0) of a node
// of a fleet is kept in the fleet's session store too, so that its client
// resumes it on any node:
//
//   - the node saves the session's subscriptions when it is established
//     and at each SUBSCRIBE and UNSUBSCRIBE (before the SUBACK or UNSUBACK),
//     and when its connection ends, with the time, from which the store
//     expires it;
//   - a client that connects with Clean Start 0 to a node that holds no
//     session of its client id resumes the stored one before its CONNACK
//     (Session Present 1), through mochi's ResumeSession (fork entry 36),
//     which applies the rule of a takeover: a subscription the new token
//     does not cover stays, and its deliveries are checked against it;
//   - the node the session leaves drops it when the client's claim comes
//     (fleet.go), with the QoS 1 and 2 messages it queued, which are not
//     moved;
//   - a clean start, a session that ends with its connection (expiry 0),
//     and a session dropped for its credentials delete the stored one.
//
// Each write names its connection (node, time of its claim), and the store
// ignores a write whose connection a later one superseded, so writes from
// two nodes may arrive in any order.

// sessionWait bounds each call to the fleet's session store: a client
// whose session cannot be loaded in time starts without it.
const sessionWait = 2 * time.Second

// sessionLease bounds how long the stored session of a connected client
// outlives its node (broker.StoredSession.Lease): a node renews its
// connected clients' sessions every half lease. Tests shorten it.
var sessionLease atomic.Int64

func init() { sessionLease.Store(int64(10 * time.Minute)) }

// maxBackgroundDeletes bounds the deletions of stored sessions in
// progress in the background for the clean starts of one broker; past
// it, a connection deletes on its own goroutine, before its first packet.
const maxBackgroundDeletes = 64

// fleetSessions is the fleet's session store, in JetStream, replicated as
// the retained messages are.
func (n *Node) fleetSessions() (broker.SessionStore, error) {
	return n.bus.Sessions(n.cfg.NATS.RetainedReplicas)
}

// persistent reports whether the client's session outlives its
// connection.
func persistent(cl *mqtt.Client) bool {
	return cl.Properties.Props.SessionExpiryInterval > 0
}

// resumeSession is mochi's ResumeSession: the stored session of a client
// that connects with Clean Start 0 to this node, which holds none.
func (s *server) resumeSession(cl *mqtt.Client) ([]packets.Subscription, bool) {
	sess := sessionOf(cl)
	if sess == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	st, err := s.node.sessions.LoadSession(ctx, s.id, cl.ID)
	cancel()
	if err != nil {
		s.fleet.warn(s, "a client starts without its session: the fleet's session store did not answer", "client_id", cl.ID, "error", err)
		return nil, false
	}
	if st == nil {
		return nil, false
	}
	subs := make([]packets.Subscription, len(st.Subscriptions))
	for i, sub := range st.Subscriptions {
		subs[i] = packets.Subscription{Filter: sub.Filter, Qos: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, Identifier: sub.Identifier}
	}
	sess.stored.Store(true)
	s.fleet.resumed.Add(1)
	s.log.Info("session resumed from the fleet's store", "client_id", cl.ID, "node_id", st.Node, "subscriptions", len(subs))
	return subs, true
}

// storedSession is what the store keeps of the session of cl: its
// subscriptions, sorted, and disconnected, zero while it is connected.
func (s *server) storedSession(sess *session, cl *mqtt.Client, disconnected time.Time) *broker.StoredSession {
	st := &broker.StoredSession{
		BrokerID: s.id, ClientID: cl.ID, Node: s.node.bus.NodeID(), At: sess.at,
		Expiry:       time.Duration(cl.Properties.Props.SessionExpiryInterval) * time.Second,
		Disconnected: disconnected,
	}
	if disconnected.IsZero() {
		st.Lease = time.Duration(sessionLease.Load())
	}
	for _, sub := range cl.State.Subscriptions.GetAll() {
		st.Subscriptions = append(st.Subscriptions, broker.StoredSubscription{Filter: sub.Filter, QoS: sub.Qos,
			NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, Identifier: sub.Identifier})
	}
	slices.SortFunc(st.Subscriptions, func(a, b broker.StoredSubscription) int { return strings.Compare(a.Filter, b.Filter) })
	return st
}

// saveSession stores the session of cl; disconnected is when its
// connection ended, zero while it is connected.
func (s *server) saveSession(sess *session, cl *mqtt.Client, disconnected time.Time) {
	st := s.storedSession(sess, cl, disconnected)
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	err := s.node.sessions.SaveSession(ctx, st)
	cancel()
	sess.stored.Store(true) // even on failure: an earlier save may be there
	if err != nil {
		s.fleet.warn(s, "a session's subscriptions were not saved for the other nodes", "client_id", cl.ID, "error", err)
	}
}

// deleteSession deletes the stored session of sess's connection, unless
// a later connection owns it.
func (s *server) deleteSession(sess *session) {
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	err := s.node.sessions.DeleteSession(ctx, s.id, broker.Claim{ClientID: sess.cl.ID, Node: s.node.bus.NodeID(), At: sess.at})
	cancel()
	if err != nil {
		s.fleet.warn(s, "a session that ended is still in the fleet's store", "client_id", sess.cl.ID, "error", err)
	}
}

// sessionEstablished stores a persistent session once its CONNACK is
// sent, before its claim goes out, so that the node it may come from
// finds its own writes superseded. It reports whether the session is
// persistent.
func (s *server) sessionEstablished(sess *session, cl *mqtt.Client) bool {
	if s.node.sessions == nil || !persistent(cl) {
		return false
	}
	s.saveSession(sess, cl, time.Time{})
	return true
}

// discardSession deletes a stored session a client's new connection does
// not keep: a clean start, or a session that ends with this connection.
// Deletion never undoes a later connection's session, so it runs in the
// background, unless too many do already.
func (s *server) discardSession(sess *session) {
	if s.node.sessions == nil {
		return
	}
	if s.fleet.deleting.Add(1) > maxBackgroundDeletes {
		s.fleet.deleting.Add(-1)
		s.deleteSession(sess)
		return
	}
	s.fleet.writes.Go(func() {
		defer s.fleet.deleting.Add(-1)
		s.deleteSession(sess)
	})
}

// sessionChanged saves the subscriptions of a persistent session after a
// SUBSCRIBE or UNSUBSCRIBE, before its ack. Mochi also reports the
// subscriptions a session loses as it ends, in an UNSUBSCRIBE of its own,
// without a packet id; those are left to sessionEnded.
func (s *server) sessionChanged(cl *mqtt.Client, pk packets.Packet) {
	if s.node.sessions == nil || pk.PacketID == 0 || !persistent(cl) {
		return
	}
	if sess := sessionOf(cl); sess != nil && !sess.moved.Load() {
		s.saveSession(sess, cl, time.Time{})
	}
}

// sessionEnded follows the end of a session's connection in the store:
// a session kept offline is saved with the time, from which the store
// expires it; any other is deleted. A session taken over, here or on
// another node, is left to the connection that took it.
func (s *server) sessionEnded(sess *session, kept bool) {
	switch {
	case s.node.sessions == nil || sess.moved.Load() || sess.cl.IsTakenOver():
	case kept && persistent(sess.cl):
		s.saveSession(sess, sess.cl, time.Now())
	case sess.stored.Load():
		s.deleteSession(sess)
	}
}

// movedAway drops the offline session of a client id that connected on
// another node since: the session lives on there, resumed from the
// fleet's store. The QoS 1 and 2 messages queued for it here are dropped
// and counted.
func (s *server) movedAway(c broker.Claim) {
	s.mu.Lock()
	sess := s.offline[c.ClientID]
	s.mu.Unlock()
	if sess == nil || !c.Supersedes(sess.at, s.node.bus.NodeID()) {
		return
	}
	sess.moved.Store(true)
	s.forget(sess)
	if queued, ok := s.dropMovedSession(sess.cl); ok {
		s.log.Info("offline session moved to another node", "client_id", c.ClientID, "node_id", c.Node, "dropped_messages", queued)
	}
}

// dropMovedSession drops what mochi keeps of the session of cl, which
// lives on on another node, and counts the QoS 1 and 2 messages queued
// for it here, which go with it.
func (s *server) dropMovedSession(cl *mqtt.Client) (queued int, dropped bool) {
	queued = cl.State.Inflight.Len()
	if dropped = s.mochi.DropSession(cl); dropped {
		s.fleet.queuedDrops.Add(int64(queued))
	}
	return queued, dropped
}

// warnLimit is the least time between two warnings of one kind.
const warnLimit = time.Minute

// warn logs a warning about the fleet, at most once a minute per server.
func (f *serverFleet) warn(s *server, msg string, args ...any) {
	now := time.Now().Unix()
	if last := f.warned.Load(); now-last >= int64(warnLimit/time.Second) && f.warned.CompareAndSwap(last, now) {
		s.log.Warn(msg, args...)
	}
}

// sessionCounters are a server's counters of sessions moved between
// nodes.
type sessionCounters struct {
	resumed     atomic.Int64 // sessions resumed here from the fleet's store
	queuedDrops atomic.Int64 // QoS 1 and 2 messages of sessions that moved away, dropped here
}

// renewSessions saves the sessions of the server's connected persistent
// clients every half lease until stop closes, so that their records
// outlive them by at most the lease (plus their expiry) if this node dies
// without a word.
func (s *server) renewSessions(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Duration(sessionLease.Load()) / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for _, cl := range s.mochi.Clients.GetAll() {
			sess := sessionOf(cl)
			if sess == nil || !persistent(cl) || !sess.stored.Load() || sess.moved.Load() || cl.Closed() {
				continue
			}
			select {
			case <-stop:
				return
			default:
			}
			s.saveSession(sess, cl, time.Time{})
		}
	}
}
