package node

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/natsbus"
)

// A node with Config.NATS is one node of a fleet: for each broker it
// serves, its server joins the broker's fan-out on the bus (a
// broker.Link). The topic index tells the link which filters the
// broker's clients here subscribe to (mochi fork entry 34), a hook hands
// it every message accepted here, and the messages other nodes accepted
// come back through DeliverLocal, which fans them out to this node's
// subscribers without running the publish hooks again. Without NATS
// nothing here runs.

// startFleet connects the node to NATS, when configured. The bus
// reconnects by itself; a node without NATS serves its own clients.
func (n *Node) startFleet() error {
	if n.cfg.NATS == nil {
		return nil
	}
	cfg := *n.cfg.NATS
	if cfg.Logger == nil {
		cfg.Logger = n.log.With("component", "natsbus")
	}
	bus, err := natsbus.Connect(cfg)
	if err != nil {
		return err
	}
	n.bus = bus
	n.log.Info("joining the fleet over NATS", "node_id", bus.NodeID())
	return nil
}

// fleetRetained is the fleet's retained message store, in JetStream: it
// replaces the node's own log, so that a retained message published on
// any node reaches subscribers on every node, also once its node is gone.
func (n *Node) fleetRetained() (broker.RetainedStore, error) {
	return n.bus.Retained(n.cfg.NATS.RetainedReplicas)
}

// serverFleet is a server's part in a fleet; zero without NATS.
type serverFleet struct {
	link    broker.Link     // the broker's fan-out to other nodes
	unwatch func()          // stops following the fleet's retained messages
	loaded  <-chan struct{} // closed once the fleet's retained messages are here
	loadBy  time.Time       // when subscriptions stop waiting for them
	applied atomic.Int64    // changes of the fleet's retained messages applied here

	// claimMu orders the noting of a local claim (dated as it is noted)
	// against claims from other nodes, so that each remote claim is
	// compared with every local claim noted before it.
	claimMu   sync.Mutex
	claims    sync.Map     // client id → claim: the connected clients and when they connected
	kicked    sync.Map     // *mqtt.Client → struct{}: taken over from another node
	takeovers atomic.Int64 // connections ended for a connection on another node

	sessionCounters                // fleetsession.go
	renewStop       chan struct{}  // closed to stop renewSessions
	renewDone       chan struct{}  // closed once it has
	writes          sync.WaitGroup // session store writes in the background
	deleting        atomic.Int64   // how many of them
	warned          atomic.Int64   // unix time of the last warning about the bus
}

// claim is when a client connected here.
type claim struct {
	cl *mqtt.Client
	at time.Time
	// established is set, under claimMu, once the client has its CONNACK:
	// a connection taken over before that is ended right after it.
	established *bool
}

// retainedLoadWait bounds how long after a broker's server starts its
// subscriptions wait for the fleet's retained messages; past it, they
// arrive in the background.
const retainedLoadWait = 2 * time.Second

// awaitRetained holds a new subscription until the fleet's retained
// messages are loaded here, so that it gets those it matches, at most
// until retainedLoadWait after the server started. Connections and
// publishes never wait for JetStream.
func (s *server) awaitRetained() {
	loaded := s.fleet.loaded
	if loaded == nil {
		return
	}
	select {
	case <-loaded:
		return
	default:
	}
	d := time.Until(s.fleet.loadBy)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-loaded:
	case <-t.C:
	}
}

// closeFleet closes the bus, once every server has left it.
func (n *Node) closeFleet() {
	if n.bus != nil {
		n.bus.Close()
	}
}

// joinFleet makes a new server a member of its broker's fan-out, before
// it has any client or subscription.
func (s *server) joinFleet() error {
	if s.node.bus == nil {
		return nil
	}
	link, err := s.node.bus.Join(s.id, s.deliverRemote, s.claimed)
	if err != nil {
		return err
	}
	s.fleet.link = link
	if store, ok := s.node.retained.(broker.SharedRetainedStore); ok {
		// Clients connect and publish while the retained messages load;
		// only subscriptions wait for them (awaitRetained).
		s.fleet.loadBy = time.Now().Add(retainedLoadWait)
		s.fleet.loaded, s.fleet.unwatch = store.WatchRetained(s.id, s.applyRetained)
	}
	// Shared subscriptions are the fleet's: each is a NATS queue group
	// that hands every message to one node with a member, which delivers
	// it to one of its members (DeliverShared).
	s.mochi.Options.FleetShared = true
	if s.node.sessions != nil {
		s.mochi.Options.ResumeSession = s.resumeSession
		s.fleet.renewStop, s.fleet.renewDone = make(chan struct{}), make(chan struct{})
		go s.renewSessions(s.fleet.renewStop, s.fleet.renewDone)
	}
	s.mochi.Topics.Interest = func(filter, shared string, on bool) {
		if len(filter) > 0 && filter[0] == '$' {
			return // nobody may publish to $ topics
		}
		if on {
			link.AddInterest(filter, shared)
		} else {
			link.RemoveInterest(filter, shared)
		}
	}
	return s.mochi.AddHook(&fleetHook{srv: s, link: link}, nil)
}

// leaveFleet drops the server's interests and waits for deliveries in
// progress, before its mochi server closes.
func (s *server) leaveFleet() {
	if s.fleet.link != nil {
		s.fleet.link.Close()
	}
	if s.fleet.unwatch != nil {
		s.fleet.unwatch()
	}
	if s.fleet.renewStop != nil {
		close(s.fleet.renewStop)
		<-s.fleet.renewDone
	}
	s.fleet.writes.Wait() // session store writes, each bounded by sessionWait
}

// applyRetained mirrors a change of the fleet's retained messages, this
// node's own included, into the broker's server, which serves them to
// new subscribers; an empty payload deletes.
func (s *server) applyRetained(m *broker.Message) {
	if !m.Expiry.IsZero() && !m.Expiry.After(time.Now()) {
		return
	}
	s.mochi.Topics.RetainMessage(packetOf(m))
	atomic.StoreInt64(&s.mochi.Info.Retained, int64(s.mochi.Topics.Retained.Len()))
	s.fleet.applied.Add(1)
}

// claimed ends the connection of a client id that connected on another
// node since it connected here (DISCONNECT 0x8E), and drops its session
// here, connected or offline: one client id has one connection and one
// session fleet-wide, and a persistent session resumes on the other node
// from the fleet's store (fleetsession.go).
func (s *server) claimed(c broker.Claim) {
	v, ok := s.fleet.claims.Load(c.ClientID)
	if !ok {
		s.movedAway(c)
		return
	}
	local := v.(claim)
	if !c.Supersedes(local.at, s.node.bus.NodeID()) {
		return // ours is the later one: the other node ends its own
	}
	if sess := sessionOf(local.cl); sess != nil {
		sess.moved.Store(true)
	}
	s.fleet.claimMu.Lock()
	_, already := s.fleet.kicked.LoadOrStore(local.cl, struct{}{})
	established := *local.established
	s.fleet.claimMu.Unlock()
	if already {
		return
	}
	s.fleet.takeovers.Add(1)
	s.log.Info("session taken over on another node", "client_id", c.ClientID, "node_id", c.Node)
	if established {
		_ = s.mochi.DisconnectClient(local.cl, packets.ErrSessionTakenOver)
	} // else OnSessionEstablished ends it once its CONNACK is out
}

// deliverRemote hands a message another node accepted to this node's
// subscribers of the broker, or, for a shared subscription, to one of its
// members here.
func (s *server) deliverRemote(m *broker.Message, shared string) {
	pk := packetOf(m)
	if shared != "" {
		s.mochi.DeliverShared(pk, shared)
		return
	}
	s.mochi.DeliverLocal(pk)
}

// fleetHook hands every message the broker's server accepts, from MQTT
// clients and from the HTTP edge alike, to the broker's link. It runs
// after the node's hook, so only publishes that passed the token, ACL
// and rate checks get here, and before mochi acknowledges them: a QoS 1
// or 2 publisher's PUBACK means the bus has the message.
type fleetHook struct {
	mqtt.HookBase
	srv  *server
	link broker.Link
}

var _ mqtt.InPlaceHook = (*fleetHook)(nil)

// ID names the hook in mochi's logs.
func (h *fleetHook) ID() string { return "pubsub-fleet" }

// Provides tells mochi the hook follows publishes, subscriptions for the
// retained messages and the fleet's sessions, and connections for the
// fleet-wide client ids.
func (h *fleetHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublish, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnWillSent,
		mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribed:
		return true
	}
	return false
}

// OnSubscribe holds a SUBSCRIBE, briefly, until the retained messages it
// may match are loaded (awaitRetained); mochi sends them after the
// SUBACK.
func (h *fleetHook) OnSubscribe(_ *mqtt.Client, pk packets.Packet) packets.Packet {
	h.srv.awaitRetained()
	return pk
}

// OnWillSent hands a will, which mochi publishes without the publish
// hooks, to the other nodes too.
func (h *fleetHook) OnWillSent(_ *mqtt.Client, pk packets.Packet) {
	h.forward(&pk)
}

// OnSessionEstablish notes the client's claim on its client id, dated
// now: after its token is checked and before its CONNACK, so that a
// client that reconnects to another node as soon as it has its CONNACK
// there makes a later claim. A claim from another node that comes before
// this one is noted was made earlier; one that comes after finds it
// (claimMu), so two nodes always agree on which connection is the later.
func (h *fleetHook) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	sess := sessionOf(cl)
	if sess == nil {
		return
	}
	h.srv.fleet.claimMu.Lock()
	sess.at = time.Now()
	h.srv.fleet.claims.Store(cl.ID, claim{cl: cl, at: sess.at, established: new(bool)})
	h.srv.fleet.claimMu.Unlock()
}

// establishedDelay holds OnSessionEstablished, in tests: a node whose
// goroutine runs late after a CONNACK.
var establishedDelay atomic.Int64 // nanoseconds

// OnSessionEstablished claims the client id across the fleet, once the
// client has its CONNACK, after storing its session if it is persistent
// (or deleting a stored one it does not keep). A connection another node
// took over before its CONNACK is ended now.
func (h *fleetHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	sess := sessionOf(cl)
	if sess == nil {
		return
	}
	if d := establishedDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	kept := h.srv.sessionEstablished(sess, cl)
	if err := h.link.Claim(cl.ID, sess.at); err != nil {
		h.srv.log.Warn("could not claim a client id across the fleet", "client_id", cl.ID, "error", err)
	}
	if !kept {
		h.srv.discardSession(sess)
	}
	h.srv.fleet.claimMu.Lock()
	if v, ok := h.srv.fleet.claims.Load(cl.ID); ok && v.(claim).cl == cl {
		*v.(claim).established = true
	}
	_, kicked := h.srv.fleet.kicked.Load(cl)
	h.srv.fleet.claimMu.Unlock()
	if kicked {
		_ = h.srv.mochi.DisconnectClient(cl, packets.ErrSessionTakenOver)
	}
}

// OnSubscribed saves a persistent session's subscriptions for the other
// nodes, before its SUBACK.
func (h *fleetHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	h.srv.sessionChanged(cl, pk)
}

// OnUnsubscribed saves a persistent session's subscriptions for the
// other nodes, before its UNSUBACK.
func (h *fleetHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	h.srv.sessionChanged(cl, pk)
}

// OnDisconnect forgets the client's claim and, when another node took
// its client id over, drops the session mochi would keep here, with the
// QoS 1 and 2 messages queued for it (counted).
func (h *fleetHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if v, ok := h.srv.fleet.claims.Load(cl.ID); ok && v.(claim).cl == cl {
		h.srv.fleet.claims.CompareAndDelete(cl.ID, v)
	}
	if _, ok := h.srv.fleet.kicked.LoadAndDelete(cl); ok && !expire {
		h.srv.dropMovedSession(cl)
	}
}

// OnPacketReadInPlace is never called: the hook provides OnPublish only.
func (h *fleetHook) OnPacketReadInPlace(*mqtt.Client, *packets.Packet) error { return nil }

// OnPublishInPlace publishes the message on the bus. A message the bus
// cannot take still reaches this node's subscribers; it is counted in
// the bus's drops, and logged at most once a minute.
func (h *fleetHook) OnPublishInPlace(_ *mqtt.Client, pk *packets.Packet) error {
	h.forward(pk)
	return nil
}

func (h *fleetHook) forward(pk *packets.Packet) {
	m := messageOf(h.srv.id, pk)
	if err := h.link.Publish(m); err != nil {
		h.srv.fleet.warn(h.srv, "a message reached this node's subscribers only: the bus refused it", "topic", pk.TopicName, "error", err)
	}
}

// The bus's families, written when the node has one.
var (
	descFleetConnected = newDesc("pubsub_fleet_nats_connected", "1 while the node is connected to NATS.")
	descFleetPublished = newDesc("pubsub_fleet_messages_published_total", "Messages this node handed to the bus for the other nodes.")
	descFleetReceived  = newDesc("pubsub_fleet_messages_received_total", "Messages from other nodes this node delivered to its subscribers.")
	descFleetPubDrops  = newDesc("pubsub_fleet_publish_drops_total", "Messages the bus refused (NATS down past the reconnect buffer, subject or payload too large); they reached this node's subscribers only.")
	descFleetRecvDrops = newDesc("pubsub_fleet_receive_drops_total", "Messages from other nodes lost because this node did not keep up (slow consumer) or could not read them.")
	descFleetReconnect = newDesc("pubsub_fleet_reconnects_total", "Reconnections to NATS.")
	descFleetJSErrors  = newDesc("pubsub_fleet_jetstream_errors_total", "Failed reads, writes and watches of the fleet's retained messages and sessions, and failed calls to the SSE journals, in JetStream.")
	descFleetTakeovers = newDesc("pubsub_fleet_takeovers_total", "Connections ended (DISCONNECT 0x8E) because their client id connected on another node.")
	descFleetResumed   = newDesc("pubsub_fleet_sessions_resumed_total", "Persistent sessions resumed on this node from the fleet's store (their client id had its session on another node).")
	descFleetQueued    = newDesc("pubsub_fleet_session_messages_dropped_total", "QoS 1 and 2 messages queued on this node for sessions that moved to another node, dropped.")
	descFleetRetained  = newDesc("pubsub_fleet_retained_updates_total", "Retained messages loaded or changed from the fleet's store (any node's, this one's included).", "broker")
)

// collectFleetMetrics reads the bus's counters, when the node has one.
func (n *Node) collectFleetMetrics(ch chan<- prometheus.Metric, servers []*server) {
	if n.bus == nil {
		return
	}
	st := n.bus.Stats()
	connected := 0.0
	if st.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descFleetConnected, prometheus.GaugeValue, connected)
	for _, c := range []struct {
		desc *prometheus.Desc
		v    uint64
	}{
		{descFleetPublished, st.Published},
		{descFleetReceived, st.Received},
		{descFleetPubDrops, st.PublishDrops},
		{descFleetRecvDrops, st.ReceiveDrops},
		{descFleetReconnect, st.Reconnects},
		{descFleetJSErrors, st.JetStreamErrors},
		{descFleetTakeovers, uint64(fleetSum(servers, func(s *server) int64 { return s.fleet.takeovers.Load() }))},
		{descFleetResumed, uint64(fleetSum(servers, func(s *server) int64 { return s.fleet.resumed.Load() }))},
		{descFleetQueued, uint64(fleetSum(servers, func(s *server) int64 { return s.fleet.queuedDrops.Load() }))},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(c.v))
	}
	for _, s := range servers {
		ch <- prometheus.MustNewConstMetric(descFleetRetained, prometheus.CounterValue, float64(s.fleet.applied.Load()), s.hostname())
	}
}

// fleetStatus is the node's bus status for /readyz: "" without NATS.
func (n *Node) fleetStatus() string {
	switch {
	case n.bus == nil:
		return ""
	case n.bus.Connected():
		return "nats: connected\n"
	default:
		// Still ready: the node serves its own clients, and taking every
		// node out of its load balancer while NATS is down would serve
		// nobody.
		return "nats: disconnected, serving this node's clients only\n"
	}
}

// FleetNodeID returns the node's id on the bus, "" without NATS.
func (n *Node) FleetNodeID() string {
	if n.bus == nil {
		return ""
	}
	return n.bus.NodeID()
}

// fleetSum sums a counter of servers.
func fleetSum(servers []*server, counter func(*server) int64) int64 {
	var t int64
	for _, s := range servers {
		t += counter(s)
	}
	return t
}
