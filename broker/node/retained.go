package node

import (
	"fmt"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker/edge"
)

// The retained quota caps the retained messages each broker keeps, in
// number and in bytes (Limits.MaxRetainedMessages, MaxRetainedBytes), so
// that one tenant cannot fill a node's memory and disk. A publish that
// would add a topic past the message cap, or grow the retained bytes past
// the byte cap, is refused as a whole: PUBACK or PUBREC 0x97 (Quota
// exceeded) for QoS 1 and 2, dropped and counted for QoS 0, 507 over
// HTTP. Replacing a topic's message with one no larger, and deleting one,
// always work. A will is never refused: over the quota it is delivered
// but not retained.
//
// Admission reserves the new size at once, so concurrent publishes see
// each other; after every change to mochi's retained messages,
// syncRetained sets the topic's size to what mochi holds, so the
// accounting follows mochi whatever happened in between.

// Labels of pubsub_retained_refused_total.
const (
	quotaMessages = "messages"
	quotaBytes    = "bytes"
)

// retainedQuota is a broker's retained accounting: the size of each
// topic's retained message and their total.
type retainedQuota struct {
	mu    sync.Mutex
	sizes map[string]int64
	bytes int64
}

// admit tells whether a retained message of size bytes may become the
// topic's, and returns the label of the cap it would break, or "". With
// reserve set, an admitted size is counted at once.
func (q *retainedQuota) admit(l Limits, topic string, size int64, reserve bool) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	old, had := q.sizes[topic]
	switch {
	case !had && len(q.sizes) >= l.MaxRetainedMessages:
		return quotaMessages
	case size > old && q.bytes-old+size > l.MaxRetainedBytes:
		return quotaBytes
	}
	if reserve {
		q.setLocked(topic, size, true)
	}
	return ""
}

// set records the size of the topic's retained message, or its absence.
func (q *retainedQuota) set(topic string, size int64, present bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.setLocked(topic, size, present)
}

func (q *retainedQuota) setLocked(topic string, size int64, present bool) {
	if q.sizes == nil {
		q.sizes = map[string]int64{}
	}
	q.bytes -= q.sizes[topic]
	if present {
		q.sizes[topic] = size
		q.bytes += size
	} else {
		delete(q.sizes, topic)
	}
}

// syncRetained sets the quota's count of a topic to the retained message
// mochi holds now, and returns that message. Reading and counting under
// the quota's lock makes the last sync of a topic read its last value.
func (s *server) syncRetained(name string) (packets.Packet, bool) {
	q := &s.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	pk, ok := s.mochi.Topics.Retained.Get(name)
	ok = ok && len(pk.Payload) > 0
	q.setLocked(name, retainedSize(&pk), ok)
	return pk, ok
}

// usage returns the retained messages and bytes counted.
func (q *retainedQuota) usage() (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.sizes), q.bytes
}

// retainedSize is what a retained message counts against the byte cap:
// its topic, payload and the properties kept with it.
func retainedSize(pk *packets.Packet) int64 {
	p := &pk.Properties
	n := len(pk.TopicName) + len(pk.Payload) + len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData)
	for _, u := range p.User {
		n += len(u.Key) + len(u.Val)
	}
	return int64(n)
}

// quotaError is the reason string of a refusal, for MQTT and HTTP alike.
func (s *server) quotaError(why string) string {
	l := s.node.cfg.Limits
	if why == quotaMessages {
		return fmt.Sprintf("the broker already keeps %d retained messages, its maximum; delete some (publish an empty retained message) first", l.MaxRetainedMessages)
	}
	return fmt.Sprintf("the broker's retained messages would exceed %d bytes, its maximum; delete some (publish an empty retained message) first", l.MaxRetainedBytes)
}

// admitRetained applies the quota to an authorized MQTT publish: nil
// lets it through; a refusal is counted and answered with 0x97 (QoS 1
// and 2) or dropped (QoS 0), by mochi (refusePublish).
func (s *server) admitRetained(cl *mqtt.Client, pk *packets.Packet) error {
	why := s.overQuota(pk)
	if why == "" {
		return nil
	}
	s.log.Debug("retained publish refused", "reason", why, "client_id", cl.ID, "topic", pk.TopicName)
	return refusePublish(pk, packets.Code{Code: packets.ErrQuotaExceeded.Code, Reason: s.quotaError(why)})
}

// admitRetainedHTTP applies the quota to an HTTP publish's packet; the
// refusal is the edge's error.
func (s *server) admitRetainedHTTP(pk *packets.Packet) error {
	if why := s.overQuota(pk); why != "" {
		return &edge.Error{Code: edge.ERETAINEDQUOTA, Message: s.quotaError(why)}
	}
	return nil
}

// overQuota admits a retained publish's new size, reserving it, or
// counts its refusal and returns the cap it would break. Publishes that
// retain nothing or delete pass.
func (s *server) overQuota(pk *packets.Packet) string {
	if !pk.FixedHeader.Retain || len(pk.Payload) == 0 {
		return ""
	}
	why := s.quota.admit(s.node.cfg.Limits, pk.TopicName, retainedSize(pk), true)
	if why != "" {
		s.m.retainedRefused(why)
	}
	return why
}

// admitWill keeps a will that would break the quota from being
// retained; it is still delivered. Nothing is reserved: a delayed will
// may never be sent.
func (s *server) admitWill(cl *mqtt.Client, will mqtt.Will) mqtt.Will {
	if !will.Retain || len(will.Payload) == 0 {
		return will
	}
	pk := packets.Packet{TopicName: will.TopicName, Payload: will.Payload, Properties: packets.Properties{User: will.User}}
	if why := s.quota.admit(s.node.cfg.Limits, will.TopicName, retainedSize(&pk), false); why != "" {
		s.m.retainedRefused(why)
		s.log.Info("will not retained: the broker's retained quota is full", "reason", why, "client_id", cl.ID, "topic", will.TopicName)
		will.Retain = false
	}
	return will
}
