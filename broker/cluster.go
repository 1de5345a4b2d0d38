package broker

import (
	"context"
	"time"
)

// The interfaces below are the seams for running one Pub/Sub broker on
// several nodes (a fleet). The node's MQTT server (mochi's topic index,
// in broker/node) is the local fan-out; a Fanout (broker/natsbus, over
// NATS) carries messages between nodes:
//
//   - Publishing: the node's hooks accept a PUBLISH after the token, ACL
//     and rate checks, then hand it to the broker's Link before mochi
//     acknowledges it and delivers it to local subscribers.
//   - Interest: the node tells the Link which filters its clients (MQTT,
//     WebSocket, SSE) subscribe to, so that it receives only the topics
//     someone here wants.
//   - Receiving: a message another node published is handed to the
//     broker's local server as a delivery only: its subscribers get it
//     through the same path as a local publish, without the publish
//     hooks, retained storage or forwarding a second time.
//   - Retained messages: mochi keeps them in memory per broker, and the
//     node mirrors every change (mochi OnRetainMessage) into a
//     RetainedStore, from which a broker's server is reloaded when it
//     starts. broker/retainlog implements it in a file of the node's data
//     dir; a store shared by the nodes (JetStream, say) would replace it.
//   - Persistent sessions: mochi keeps a session on the node its client
//     connected to; the node also writes its subscriptions to a
//     SessionStore, from which another node resumes it when the client
//     connects there (broker/node/fleetsession.go).

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

// Fanout carries the messages of each broker between the nodes that
// serve it.
type Fanout interface {
	// Join makes this node a member of broker brokerID's fan-out. Until
	// the returned Link is closed, deliver is called, on one goroutine, with
	// each message another node publishes to a topic the Link has interest
	// in; messages of one publisher arrive in the order it published them,
	// and never more than once per filter group (group "" for the
	// ordinary subscribers, or a shared subscription's group).
	//
	// claimed is called with each Claim another node makes for the broker.
	Join(brokerID string, deliver func(m *Message, group string), claimed func(Claim)) (Link, error)
}

// Claim says that a client id connected to a node at a time: one client
// id has one connection fleet-wide, so a node where the same client id
// connected earlier ends that connection (DISCONNECT 0x8E). Of two
// connections, the later one stays (by At, then by Node for a tie), so
// that concurrent connects on two nodes leave exactly one.
type Claim struct {
	ClientID string
	Node     string
	At       time.Time
}

// Supersedes reports whether c replaces a connection made at at on node.
func (c Claim) Supersedes(at time.Time, node string) bool {
	return at.Before(c.At) || at.Equal(c.At) && node < c.Node
}

// Link is this node's membership in one broker's fan-out.
type Link interface {
	// Publish hands m, already authorized and delivered here, to the
	// other nodes. It returns once the bus holds the message (buffered
	// while the bus reconnects), or an error when it cannot take it; the
	// message then reaches only this node's subscribers.
	Publish(m *Message) error
	// AddInterest and RemoveInterest count this node's subscriptions to a
	// topic filter (group "" for ordinary subscribers, else the shared
	// subscription's group, whose members across the fleet share each
	// message). The node receives the topics the filters with a positive
	// count match. They never block, and may be called under a lock: the
	// bus follows the counts in the background.
	AddInterest(filter, group string)
	RemoveInterest(filter, group string)
	// Claim tells the other nodes that clientID connected here at at.
	Claim(clientID string, at time.Time) error
	// Close drops every interest and stops deliveries.
	Close()
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

// SharedRetainedStore is a RetainedStore the nodes of a fleet share: each
// node mirrors a broker's retained messages in memory, where its MQTT
// server serves them, and follows the changes other nodes make.
type SharedRetainedStore interface {
	RetainedStore
	// WatchRetained calls apply, on one goroutine, with each of brokerID's
	// stored retained messages, then with each change any node makes
	// (a message with an empty payload for a deletion), until stop is
	// called. It returns at once. loaded is closed once the stored
	// messages are applied, or as soon as the store knows it cannot load
	// them now (it has lost its connection, its last load failed): the
	// watch then goes on, and applies them once it can.
	WatchRetained(brokerID string, apply func(*Message)) (loaded <-chan struct{}, stop func())
}

// Journal is one broker's log of its recent messages, shared by the
// nodes of a fleet, from which SSE clients resume on any node: every
// message accepted on any node gets one sequence number, the same on
// every node, and the log keeps the messages of a bounded window (the
// SSE replay age, and a count and byte limit per broker).
type Journal interface {
	// Open makes the log if needed and returns its epoch, which names
	// this lifetime of the log: sequence numbers of another epoch mean
	// nothing here.
	Open(ctx context.Context) (epoch uint64, err error)
	// Last returns the sequence number of the newest message in the log
	// (0 when it has never held one).
	Last(ctx context.Context) (uint64, error)
	// Follow calls deliver, on one goroutine and in log order, with each
	// message whose topic filter matches and whose sequence number is
	// above after, until stop is called. It resumes by itself after a
	// connection loss, without gap or repetition.
	Follow(ctx context.Context, filter string, after uint64, deliver func(JournalEntry)) (stop func(), err error)
	// Read returns the messages filter matches with sequence numbers in
	// (after, upto], oldest first: the newest limit of them when there
	// are more. complete is false when some may be missing: the log no
	// longer holds the message after after, or there were more than
	// limit.
	Read(ctx context.Context, filter string, after, upto uint64, limit int) (entries []JournalEntry, complete bool, err error)
	// Delete removes the log, once the broker is deleted.
	Delete(ctx context.Context) error
}

// JournalEntry is one message of a Journal and its sequence number.
type JournalEntry struct {
	Seq     uint64
	Message *Message
}

// StoredSession is what a fleet keeps of a persistent MQTT session (Clean
// Start 0, Session Expiry above 0), so that the client resumes it on any
// node: its subscriptions, and the connection that owns it. Messages
// queued for it stay on the node that queued them.
type StoredSession struct {
	BrokerID string
	ClientID string
	// Node and At name the connection that owns the session, as its Claim
	// does: a store never lets an earlier connection overwrite a later
	// one's session.
	Node string
	At   time.Time
	// Expiry is the session expiry interval.
	Expiry time.Duration
	// Disconnected is when the owning connection ended; zero while it is
	// connected. The session expires Expiry after it.
	Disconnected time.Time
	// Lease, for a connected session, bounds how long its record lasts
	// (plus Expiry) unless it is saved again: the node that holds the
	// connection saves it every Lease/2, so the sessions of a node that
	// dies without a word (kill -9) expire as if their connections had
	// ended within Lease of it. 0: no bound.
	Lease         time.Duration
	Subscriptions []StoredSubscription
}

// Owner is the claim of the connection that owns the session.
func (s *StoredSession) Owner() Claim {
	return Claim{ClientID: s.ClientID, Node: s.Node, At: s.At}
}

// Expired reports whether the session has expired at now.
func (s *StoredSession) Expired(now time.Time) bool {
	return !s.Disconnected.IsZero() && !s.Disconnected.Add(s.Expiry).After(now)
}

// StoredSubscription is a subscription of a stored session, with its
// SUBSCRIBE options.
type StoredSubscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        int // the subscription identifier; 0 for none
}

// SessionStore keeps the persistent sessions of the fleet's clients.
// Writes are ordered by owner: a write for a connection that another
// connection superseded (Claim.Supersedes) changes nothing.
type SessionStore interface {
	// LoadSession returns the session of a broker's client id, or nil
	// when there is none or it has expired.
	LoadSession(ctx context.Context, brokerID, clientID string) (*StoredSession, error)
	// SaveSession stores s, unless a later connection owns the stored
	// session. A session whose connection ended is removed once it
	// expires.
	SaveSession(ctx context.Context, s *StoredSession) error
	// DeleteSession deletes the session owner owns; nothing if a later
	// connection owns it.
	DeleteSession(ctx context.Context, brokerID string, owner Claim) error
	// DeleteSessions deletes every session of a broker, once the broker
	// is deleted.
	DeleteSessions(ctx context.Context, brokerID string) error
}
