// Package natsbus carries a broker's messages between the nodes of a
// fleet over NATS: it implements broker.Fanout on one NATS connection
// per node (github.com/nats-io/nats.go), with interest-based
// subscriptions, and maps MQTT topics and filters to NATS subjects. In
// JetStream it keeps what outlives a node: the retained messages
// (broker.SharedRetainedStore) and the persistent sessions
// (broker.SessionStore), one key-value bucket each.
//
// It knows nothing of MQTT servers: broker/node tells it which filters
// its clients subscribe to and hands it the messages they publish, and
// gets back, in order, the messages other nodes publish.
package natsbus
