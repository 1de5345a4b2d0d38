package node

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/topic"
)

// hook is the mochi hook of one broker's server: authentication at
// CONNECT, the ACL checks, limits, and the CONNACK properties mochi does
// not send by itself.
type hook struct {
	mqtt.HookBase
	srv    *server
	limits Limits
}

// ID names the hook in mochi's logs.
func (h *hook) ID() string { return "pubsub" }

// Provides tells mochi which events the hook handles; mochi skips the
// others, so the per-packet paths stay short.
func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablished,
		mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnPacketRead, mqtt.OnSubscribed:
		return true
	}
	return false
}

// sessionOf returns the session of a client, nil before CONNECT succeeds.
func sessionOf(cl *mqtt.Client) *session {
	if c, ok := cl.Net.Conn.(*conn); ok {
		return c.sess.Load()
	}
	return nil
}

// OnConnect authenticates the client. It runs before mochi sends CONNACK
// and, unlike OnConnectAuthenticate, may choose the reason code, so it
// does all the work and sends the refusing CONNACK itself; mochi then
// closes the connection. On success it sets the client id to the token's
// sub, which mochi returns as Assigned Client Identifier when the client
// sent another one or none, and clamps the keep-alive.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	c, _ := cl.Net.Conn.(*conn)
	if c == nil {
		return h.refuse(cl, pk, broker.RefuseUnavailable)
	}
	now := time.Now()
	b := h.srv.node.state.Load().Broker(h.srv.id)
	switch {
	case b == nil:
		return h.refuse(cl, pk, broker.RefuseUnavailable)
	case !pk.Connect.PasswordFlag:
		return h.refuse(cl, pk, broker.RefuseNoToken)
	case len(pk.Connect.Password) > broker.MaxTokenLen:
		return h.refuse(cl, pk, refPasswordLen)
	case len(pk.Connect.ClientIdentifier) > maxClientIDLen:
		return h.refuse(cl, pk, refClientID)
	}
	g, r := broker.Authenticate(b, broker.CleanToken(string(pk.Connect.Password)), now, h.limits.TokenLeeway)
	if r != nil {
		return h.refuse(cl, pk, r)
	}
	if len(g.ClientID) > maxClientIDLen {
		return h.refuse(cl, pk, refClientID)
	}
	sess := newSession(h.srv, cl, g)
	// MQTT v5 §3.2.2.2 lists 0x90 for "the Will Topic Name is not
	// malformed, but is not accepted by this Server"; 0x87 would tell the
	// client it may not connect at all, which is not so.
	if pk.Connect.WillFlag {
		if t := pk.Connect.WillTopic; topic.ValidateName(t) != nil || !sess.canPublish(t) {
			return h.refuse(cl, pk, refWillTopic)
		} else if topic.CheckLevels(t, false, h.limits.MaxTopicLevels) != nil {
			return h.refuse(cl, pk, refWillLevels)
		}
	}
	if r := h.srv.register(sess, now); r != nil {
		return h.refuse(cl, pk, r)
	}
	c.sess.Store(sess)

	if pk.Connect.ClientIdentifier != g.ClientID {
		cl.ID = g.ClientID
		cl.Properties.Props.AssignedClientID = g.ClientID
	}
	ka := pk.Connect.Keepalive
	switch {
	case ka == 0 || ka > h.limits.MaxKeepAlive:
		ka = h.limits.MaxKeepAlive
	case ka < h.limits.MinKeepAlive:
		ka = h.limits.MinKeepAlive
	}
	cl.State.Keepalive = ka
	cl.State.ServerKeepalive = true
	return nil
}

// refuse counts and logs a refusal and sends its CONNACK. The returned
// error makes mochi close the connection.
func (h *hook) refuse(cl *mqtt.Client, pk packets.Packet, r *broker.Refusal) error {
	code := connackCode(r)
	h.srv.m.refused(string(r.Reason))
	h.srv.log.Info("connection refused", "reason", r.Reason, "code", code.Code,
		"client_id", pk.Connect.ClientIdentifier, "remote", cl.Net.Remote)
	_ = h.srv.mochi.SendConnack(cl, code, false, nil)
	return code
}

// OnConnectAuthenticate lets in the clients OnConnect accepted.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	return sessionOf(cl) != nil
}

// OnSessionEstablished runs once CONNACK is sent.
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	sess := sessionOf(cl)
	if sess == nil {
		return
	}
	h.srv.m.connections.Add(1)
	sess.establishedNow()
}

// OnACLCheck is mochi's check for SUBSCRIBE filters and, for sessions
// taken over by a connection with a narrower token (which inherit the
// subscriptions of the wider one), for each delivery: mochi's fork skips
// it for the others, whose granted filters only match allowed topics
// (Options.ACLCoversFilters). Publishes pass here and are
// checked in OnPublishInPlace instead, where mochi has resolved topic
// aliases: here an aliased publish still has an empty topic.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	sess := sessionOf(cl)
	return sess != nil && sess.canReceive(topic)
}

// The hook works on packets in place (mochi's fork calls these instead
// of OnPacketRead and OnPublish), which spares copying every packet.
var _ mqtt.InPlaceHook = (*hook)(nil)

// OnPublishInPlace checks a publish against the token's ACL. A refused
// QoS 1 or 2 publish is answered with PUBACK or PUBREC 0x87 (mochi would
// send a PUBACK for both), a refused QoS 0 one is dropped and counted.
func (h *hook) OnPublishInPlace(cl *mqtt.Client, pk *packets.Packet) error {
	if cl.Net.Inline {
		return nil // the edge, which checked the HTTP client's token
	}
	sess := sessionOf(cl)
	if sess != nil && sess.canPublish(pk.TopicName) {
		return h.srv.admitRetained(cl, pk) // retained.go: the retained quota
	}
	if len(pk.TopicName) == 0 || pk.TopicName[0] != '$' {
		// $ topics were refused and counted in OnPacketReadInPlace.
		h.denyPublish(cl, pk)
	}
	return packets.ErrRejectPacket
}

var errNotAuthorizedToPublish = packets.Code{Code: 0x87, Reason: "the token does not allow publishing to this topic"}

func (h *hook) denyPublish(cl *mqtt.Client, pk *packets.Packet) {
	h.srv.m.aclPublish.Add(1)
	if pk.FixedHeader.Qos == 0 {
		h.srv.m.droppedQoS0.Add(1)
		return
	}
	ack := byte(packets.Puback)
	if pk.FixedHeader.Qos == 2 {
		ack = packets.Pubrec
	}
	_ = cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: ack},
		PacketID:    pk.PacketID,
		ReasonCode:  errNotAuthorizedToPublish.Code,
		Properties:  packets.Properties{ReasonString: errNotAuthorizedToPublish.Reason},
	})
}

// OnPacketReadInPlace sees each packet as it is decoded. It enforces the
// message rate, and refuses publishes to $ topics here because mochi
// silently drops those to $SYS before any hook, which would leave a QoS 1
// publisher waiting for its PUBACK: the publish is answered with 0x87,
// then turned into a QoS 0 publish without topic alias for mochi to drop.
func (h *hook) OnPacketReadInPlace(cl *mqtt.Client, pk *packets.Packet) error {
	if pk.FixedHeader.Type != packets.Publish {
		return nil
	}
	sess := sessionOf(cl)
	if sess == nil {
		return nil
	}
	if h.limits.MessageRate > 0 && !sess.allowPublish(time.Now(), h.limits.MessageRate, h.limits.MessageBurst) {
		sess.disconnect(refRate)
		return packets.ErrRejectPacket
	}
	if len(pk.TopicName) > 0 && pk.TopicName[0] == '$' {
		h.denyPublish(cl, pk)
		pk.FixedHeader.Qos, pk.FixedHeader.Retain, pk.FixedHeader.Dup = 0, false, false
		pk.PacketID = 0
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
	}
	return nil
}

// OnSubscribed counts the filters the ACL refused, and those beyond the
// session's subscription quota.
func (h *hook) OnSubscribed(_ *mqtt.Client, _ packets.Packet, codes []byte) {
	for _, c := range codes {
		switch c {
		case packets.ErrNotAuthorized.Code:
			h.srv.m.aclSubscribe.Add(1)
		case packets.ErrQuotaExceeded.Code:
			h.srv.m.subQuota.Add(1)
		}
	}
}
