package broker

import (
	"context"
	"time"
)

// The interfaces below are the seams for running one Pub/Sub broker on
// several nodes, which is not built yet: today every client of a broker
// must reach the node that serves it, and the node's MQTT server (mochi's
// topic index, in broker/node) is both the local fan-out and the retained
// message store. Nothing implements or calls these interfaces yet; they
// record where a cluster (over NATS, say) will plug in, so that the node
// is shaped for it:
//
//   - Publishing: the node's hook accepts a PUBLISH after the ACL check
//     (mochi OnPublish) and mochi delivers it to local subscribers. A
//     Fanout would also receive it there and carry it to the other nodes.
//   - Receiving: a message another node publishes for a broker would be
//     injected into that broker's local server as if published by the
//     server itself, so local subscribers get it through the same path,
//     including the per-delivery ACL check.
//   - Retained messages: mochi keeps them in memory per broker, and the
//     node mirrors every change (mochi OnRetainMessage) into a
//     RetainedStore, from which a broker's server is reloaded when it
//     starts. broker/retainlog implements it in a file of the node's data
//     dir; a store shared by the nodes (JetStream, say) would replace it.

// Message is an application message as it would cross node boundaries.
type Message struct {
	BrokerID string
	Topic    string
	Payload  []byte
	QoS      byte
	Retain   bool
	// ClientID is the publisher's client id, for No Local and webhooks.
	ClientID string
	// JTI is the publisher's token id, for webhooks; "" when unknown.
	JTI string
	// Expiry is when the message expires; zero for never.
	Expiry          time.Time
	ContentType     string
	PayloadFormat   byte
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  [][2]string
}

// Fanout carries messages accepted on one node to the other nodes serving
// the same broker.
type Fanout interface {
	// Publish hands m, already authorized, to the other nodes.
	Publish(ctx context.Context, m *Message) error
	// Receive calls deliver with each message other nodes publish for
	// brokerID until stop is called.
	Receive(brokerID string, deliver func(*Message)) (stop func(), err error)
}

// RetainedStore keeps the retained message of each topic of each broker
// beyond one node's memory.
type RetainedStore interface {
	// Retain stores m as its topic's retained message; an empty payload
	// deletes it, as MQTT specifies.
	Retain(ctx context.Context, m *Message) error
	// Retained returns the unexpired retained messages whose topics match
	// filter, in no particular order.
	Retained(ctx context.Context, brokerID, filter string) ([]*Message, error)
	// DeleteRetained deletes every retained message of a broker, once the
	// broker is deleted.
	DeleteRetained(ctx context.Context, brokerID string) error
}
