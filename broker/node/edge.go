package node

import (
	"context"
	"hash/fnv"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/edge"
)

// The node is the edge's Backend: the edge (broker/edge) reaches each
// broker's mochi server through a bus, and hands WebSocket byte streams
// to ServeMQTT, so that HTTP clients meet MQTT clients on the same
// server, with the same hook.

// edgeBackend implements edge.Backend for a node.
type edgeBackend struct{ n *Node }

// State returns the node's current State.
func (e edgeBackend) State() *broker.State { return e.n.state.Load() }

// Bus returns the bus of broker b's server, starting it if needed.
func (e edgeBackend) Bus(b *broker.Broker) edge.Bus {
	s := e.n.serverFor(b)
	if s == nil {
		return nil
	}
	return s.bus
}

// ServeMQTT runs a WebSocket's MQTT byte stream on broker b's server, or
// on the server its CONNECT's token names when b is nil, exactly as a
// TLS connection: the same conn wrapper (packet size limit), hook and
// enforcement.
func (e edgeBackend) ServeMQTT(raw net.Conn, b *broker.Broker) {
	n := e.n
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		_ = raw.Close()
		return
	}
	n.conns[raw] = struct{}{}
	n.wg.Add(1)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.conns, raw)
		n.mu.Unlock()
		_ = raw.Close()
		n.wg.Done()
	}()
	_ = raw.SetDeadline(time.Now().Add(n.cfg.Limits.ConnectTimeout))
	c := &conn{Conn: raw, max: n.cfg.Limits.MaxPacketSize}
	if b == nil {
		var pkt []byte
		if b, pkt = n.routeByAudience(raw); b == nil {
			return
		}
		c.replay = pkt
	}
	if s := n.serverFor(b); s != nil {
		// The WebSocket's handler owns raw until the session ends.
		done := make(chan struct{})
		s.establish(c, func() { close(done) })
		<-done
	}
}

// bus is a broker server's side of the edge: inline subscriptions and
// publishes on its mochi server.
type bus struct {
	srv    *server
	cl     *mqtt.Client // the inline client HTTP publishes come from
	nextID atomic.Int64 // inline subscription ids

	// journal is the broker's SSE journal in a fleet (journal.go); nil
	// when the node runs alone.
	journal broker.Journal
}

var _ edge.JournaledBus = (*bus)(nil)

// Journal returns the broker's SSE journal, nil without a fleet
// (edge.JournaledBus).
func (b *bus) Journal() broker.Journal { return b.journal }

func newBus(s *server) *bus {
	cl := s.mochi.NewClient(nil, mqtt.LocalListener, "$edge", true)
	// Messages carry the publisher's protocol version, and mochi expires
	// retained messages only when it is 5.
	cl.Properties.ProtocolVersion = 5
	return &bus{srv: s, cl: cl}
}

// Publish injects m into the broker's server as if an authorized client
// had published it, once the broker's on-publish hook let it through
// (edge.ErrDropped, or an EHOOK error, when it did not), then, for a retained message, waits until the
// broker's retained message for the topic is on disk. A retained message
// over the broker's quota is refused with edge.ERETAINEDQUOTA.
func (b *bus) Publish(m *broker.Message) error {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: m.Retain},
		TopicName:   m.Topic,
		Payload:     m.Payload,
		Properties: packets.Properties{
			ContentType:     m.ContentType,
			PayloadFormat:   m.PayloadFormat,
			ResponseTopic:   m.ResponseTopic,
			CorrelationData: m.CorrelationData,
		},
	}
	if m.PayloadFormat != 0 {
		pk.Properties.PayloadFormatFlag = true
	}
	if !m.Expiry.IsZero() {
		secs := int64((time.Until(m.Expiry) + time.Second - 1) / time.Second)
		pk.Properties.MessageExpiryInterval = uint32(max(1, min(secs, 1<<32-1)))
	}
	if err := b.srv.admitRetainedHTTP(&pk); err != nil {
		return err
	}
	if err := b.srv.hookHTTPPublish(&pk, m); err != nil { // onpublish.go
		return err
	}
	if err := b.srv.mochi.InjectPacket(b.cl, pk); err != nil {
		if m.Retain {
			b.srv.syncRetained(m.Topic) // undo the quota's reservation
		}
		return err
	}
	if m.Retain {
		return b.srv.persistRetained(m.Topic)
	}
	return nil
}

// Subscribe adds an inline subscription. Mochi hands a new inline
// subscription the retained messages it matches at once; the edge asks
// for those itself, when a client wants them, so they are not delivered.
func (b *bus) Subscribe(filter string, deliver func(*broker.Message)) (func(), error) {
	id := int(b.nextID.Add(1))
	var armed atomic.Bool
	brokerID := b.srv.id
	err := b.srv.mochi.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		if armed.Load() {
			deliver(messageOf(brokerID, &pk))
		}
	})
	if err != nil {
		return nil, err
	}
	armed.Store(true)
	return func() { _ = b.srv.mochi.Unsubscribe(filter, id) }, nil
}

// Retained returns the unexpired retained messages filter matches,
// once the fleet's are loaded here (awaitRetained).
func (b *bus) Retained(filter string) []*broker.Message {
	b.srv.awaitRetained()
	now := time.Now().Unix()
	var out []*broker.Message
	for _, pk := range b.srv.mochi.Topics.Messages(filter) {
		if pk.Expiry > 0 && pk.Expiry <= now {
			continue
		}
		out = append(out, messageOf(b.srv.id, &pk))
	}
	return out
}

// messageOf converts a mochi packet; the payload is shared, not copied.
func messageOf(brokerID string, pk *packets.Packet) *broker.Message {
	m := &broker.Message{
		BrokerID: brokerID, Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain,
		ClientID: pk.Origin, ContentType: pk.Properties.ContentType, PayloadFormat: pk.Properties.PayloadFormat,
		ResponseTopic: pk.Properties.ResponseTopic, CorrelationData: pk.Properties.CorrelationData,
	}
	if pk.Expiry > 0 {
		m.Expiry = time.Unix(pk.Expiry, 0)
	}
	for _, u := range pk.Properties.User {
		m.UserProperties = append(m.UserProperties, [2]string{u.Key, u.Val})
	}
	return m
}

// packetOf converts a message, stored retained or from another node of
// the fleet, into the packet mochi holds and delivers, with its QoS,
// retain flag and absolute expiry.
func packetOf(m *broker.Message) packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: m.QoS, Retain: m.Retain},
		TopicName:       m.Topic,
		Payload:         m.Payload,
		Origin:          m.ClientID,
		ProtocolVersion: 5,
		Created:         time.Now().Unix(),
		Properties: packets.Properties{
			ContentType: m.ContentType, PayloadFormat: m.PayloadFormat, PayloadFormatFlag: m.PayloadFormat != 0,
			ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData,
		},
	}
	for _, u := range m.UserProperties {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: u[0], Val: u[1]})
	}
	if !m.Expiry.IsZero() {
		pk.Expiry = m.Expiry.Unix()
		pk.Properties.MessageExpiryInterval = uint32(max(1, min(time.Until(m.Expiry)/time.Second, 1<<32-1)))
	}
	return pk
}

// retainStripes serialize the persistence of each topic's retained
// message; different topics share an fsync.
const retainStripes = 64

// persistTimeout bounds one write of a retained message.
const persistTimeout = 10 * time.Second

// persistRetained writes the broker's current retained message of a
// topic (or its absence) to the node's store, and counts it in the
// broker's retained quota. It reads what mochi holds now rather than the
// packet that changed it, under a per-topic lock, so that concurrent
// publishes leave the disk with what memory has: the last writer reads
// the last value.
func (s *server) persistRetained(name string) error {
	mu := s.retainLock(name)
	mu.Lock()
	defer mu.Unlock()
	pk, ok := s.syncRetained(name)
	store := s.node.retained
	if store == nil {
		return nil
	}
	m := &broker.Message{BrokerID: s.id, Topic: name}
	if ok {
		m = messageOf(s.id, &pk)
		m.Retain = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), persistTimeout)
	defer cancel()
	return store.Retain(ctx, m)
}

// retainLock returns the lock that orders the changes of a topic's
// retained message.
func (s *server) retainLock(name string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return &s.retainMu[h.Sum32()%retainStripes]
}

// loadRetained puts the broker's stored retained messages into its
// server, before any client can connect.
func (s *server) loadRetained() error {
	store := s.node.retained
	if store == nil {
		return nil
	}
	if _, shared := store.(broker.SharedRetainedStore); shared {
		return nil // the fleet's store is watched instead (fleet.go)
	}
	ctx, cancel := context.WithTimeout(context.Background(), persistTimeout)
	defer cancel()
	msgs, err := store.Retained(ctx, s.id, "#")
	if err != nil {
		return err
	}
	// Messages stored before a lower quota are all kept: the quota
	// refuses new ones until enough are deleted.
	for _, m := range msgs {
		pk := packetOf(m)
		s.mochi.Topics.RetainMessage(pk)
		s.quota.set(pk.TopicName, retainedSize(&pk), true)
	}
	atomic.StoreInt64(&s.mochi.Info.Retained, int64(s.mochi.Topics.Retained.Len()))
	return nil
}

// retainHook mirrors the retained messages MQTT clients publish (wills
// included) into the node's store and the broker's retained quota, which
// it applies to wills. The bus persists its own.
type retainHook struct {
	mqtt.HookBase
	srv *server
}

// ID names the hook in mochi's logs.
func (h *retainHook) ID() string { return "pubsub-retain" }

// Provides tells mochi the hook follows retained messages and wills only.
func (h *retainHook) Provides(b byte) bool {
	return b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired || b == mqtt.OnWill
}

// OnWill keeps a will over the retained quota from being retained.
func (h *retainHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	return h.srv.admitWill(cl, will), nil
}

// OnRetainedExpired frees an expired message's share of the quota. The
// store drops expired messages by itself, so nothing is written.
func (h *retainHook) OnRetainedExpired(name string) {
	h.srv.syncRetained(name)
}

// OnRetainMessage persists the topic's retained message. It runs before
// mochi acknowledges a QoS 1 or 2 publish, so a PUBACK means the
// message is on disk.
func (h *retainHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, _ int64) {
	if cl.Net.Inline {
		return
	}
	if err := h.srv.persistRetained(pk.TopicName); err != nil {
		h.srv.log.Error("persisting a retained message", "topic", pk.TopicName, "error", err)
	}
}
