package node

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Publish admission. Every PUBLISH an MQTT client sends passes, in order:
//
//  1. the message rate (OnPacketReadInPlace): each packet counts, before
//     mochi validates it; over the rate, DISCONNECT 0x96;
//  2. mochi's own checks: Receive Maximum (DISCONNECT 0x93), topic levels
//     (0x90), topic name validity (0x90), topic aliases (DISCONNECT 0x94,
//     0x82);
//  3. the token's ACL (OnPublishInPlace, where mochi has resolved topic
//     aliases): broker.Grant.CanPublish, which refuses every $ topic;
//     PUBACK or PUBREC 0x87, a QoS 0 publish dropped and counted;
//  4. the broker's retained quota, for a retained publish (retained.go):
//     0x97;
//  5. the broker's on-publish hook, when it has one (onpublish.go): the
//     publisher's goroutine waits for its verdict; PUBACK 0x10 for a
//     message it dropped, 0x80 when it failed.
//
// Only then do mochi's subscribers, the retained store, the edge and the
// other nodes see the message. Deliveries are checked in OnACLCheck. HTTP publishes pass
// the same rules in the edge, through the same broker.Grant.

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

// OnPublishInPlace checks a publish against the token's ACL, $ topics
// included (the fork hands those to the hooks), then against the
// broker's retained quota. A refused QoS 1 or 2 publish is answered with
// PUBACK or PUBREC 0x87 (mochi would send a PUBACK for both), a refused
// QoS 0 one is dropped and counted.
func (h *hook) OnPublishInPlace(cl *mqtt.Client, pk *packets.Packet) error {
	if cl.Net.Inline {
		return nil // the edge, which checked the HTTP client's token
	}
	sess := sessionOf(cl)
	if sess != nil && sess.canPublish(pk.TopicName) {
		if err := h.srv.admitRetained(cl, pk); err != nil { // retained.go: the retained quota
			return err
		}
		return h.srv.hookPublish(cl, pk) // onpublish.go
	}
	return h.denyPublish(pk)
}

var errNotAuthorizedToPublish = packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: "the token does not allow publishing to this topic"}

// denyPublish counts a publish the ACL refuses and returns the error
// that refuses it (refusePublish).
func (h *hook) denyPublish(pk *packets.Packet) error {
	h.srv.m.aclPublish.Add(1)
	if pk.FixedHeader.Qos == 0 {
		h.srv.m.droppedQoS0.Add(1)
	}
	return refusePublish(pk, errNotAuthorizedToPublish)
}

// refusePublish returns what a publish hook returns to refuse pk with
// code: mochi answers a QoS 1 or 2 publish with the code in its PUBACK or
// PUBREC, and drops a QoS 0 one, which has no ack to carry it.
func refusePublish(pk *packets.Packet, code packets.Code) error {
	if pk.FixedHeader.Qos == 0 {
		return packets.ErrRejectPacket
	}
	return code
}

// OnPacketReadInPlace sees each packet as it is decoded, before mochi
// validates it: every PUBLISH packet counts against the message rate,
// whatever becomes of it.
func (h *hook) OnPacketReadInPlace(cl *mqtt.Client, pk *packets.Packet) error {
	if pk.FixedHeader.Type != packets.Publish || h.limits.MessageRate <= 0 {
		return nil
	}
	sess := sessionOf(cl)
	if sess != nil && !sess.allowPublish(time.Now(), h.limits.MessageRate, h.limits.MessageBurst) {
		sess.disconnect(refRate)
		return packets.ErrRejectPacket
	}
	return nil
}
