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
	g, r := h.srv.node.grants.Authenticate(b, broker.CleanToken(string(pk.Connect.Password)), now, h.limits.TokenLeeway)
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

	// A self-signed token names no client: the client keeps the id it
	// sent, or the one mochi assigned to an empty id.
	if g.ClientID != "" && pk.Connect.ClientIdentifier != g.ClientID {
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
