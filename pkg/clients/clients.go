// Package clients is the wire format of the connected-clients report that
// each broker node pushes to the control plane: the MQTT sessions and SSE
// streams connected to it, by broker, and in the answer the disconnections the
// operators asked for since. Both sides import it; nothing else lives here.
package clients

import "time"

// Path is the report's HTTP path on the control plane. A node sends
// POST Path with Authorization: Bearer <node token> and a Report body.
const Path = "/node/v1/clients"

// DefaultInterval is how often a node reports. The control plane forgets
// a node's report after StaleAfter intervals without a new one.
const DefaultInterval = 2 * time.Second

// StaleAfter is how many report intervals a report stays valid.
const StaleAfter = 3

// MaxReportBytes bounds a report's body on the control plane.
const MaxReportBytes = 64 << 20

// MaxSubscriptions is the most subscriptions a report lists per client;
// Client.Subscribed counts them all.
const MaxSubscriptions = 20

// Report is what a node sends: every connected client of every broker it
// serves, and the counters of each broker it runs, at Time.
type Report struct {
	Time       time.Time     `json:"time"`
	IntervalMS int64         `json:"interval_ms"`
	Clients    []Client      `json:"clients"`
	Brokers    []BrokerStats `json:"brokers"`
}

// BrokerStats are one broker's figures on one node: Connections now, the
// others counted since the broker's server started on the node (the
// control plane turns them into rates).
type BrokerStats struct {
	BrokerID    string `json:"broker_id"`
	Connections int64  `json:"connections"`
	MessagesIn  int64  `json:"messages_in"`  // PUBLISH packets received from clients
	MessagesOut int64  `json:"messages_out"` // PUBLISH packets sent to clients
	Dropped     int64  `json:"dropped"`      // deliveries dropped (full queues, inflight limit) and refused QoS 0 publishes
	Refused     int64  `json:"refused"`      // CONNECTs refused (bad, expired or revoked tokens, ...)
	Denied      int64  `json:"denied"`       // publishes and filters the token's ACL refused
	// Hook is the broker's on-publish hook on the node; nil when the
	// broker has none there.
	Hook *HookStats `json:"hook,omitempty"`
}

// HookStats are the counters of one broker's on-publish hook on one node,
// since the broker's server started there, as /metrics has them
// (pubsub_hook_requests_total, pubsub_hook_messages_total, ...).
type HookStats struct {
	// Requests counts requests, retries included, by outcome: ok,
	// timeout, connection, status_5xx, status, invalid, oversized,
	// refused, closed. Outcomes never seen are left out.
	Requests         map[string]int64 `json:"requests"`
	Passed           int64            `json:"passed"`             // delivered unchanged
	Changed          int64            `json:"changed"`            // delivered with the hook's payload
	DroppedByHook    int64            `json:"dropped_by_hook"`    // left out of the hook's answer
	DroppedOnFailure int64            `json:"dropped_on_failure"` // dropped because the request failed
	PassedOnFailure  int64            `json:"passed_on_failure"`  // delivered unchanged because the request failed (on_failure pass)
	Retries          int64            `json:"retries"`
	InFlight         int64            `json:"in_flight"` // requests in flight now
	Queued           int64            `json:"queued"`    // messages waiting for a request now
}

// The transports of a Client.
const (
	TransportMQTTS     = "mqtts"
	TransportWebSocket = "websocket"
	TransportSSE       = "sse"
)

// Client is one connected MQTT session (over TLS or WebSocket) or one
// open SSE stream.
type Client struct {
	BrokerID      string    `json:"broker_id"`
	ClientID      string    `json:"client_id"`
	JTI           string    `json:"jti"`
	Transport     string    `json:"transport"` // a Transport constant
	Remote        string    `json:"remote_addr"`
	ConnectedAt   time.Time `json:"connected_at"`
	Subscriptions []string  `json:"subscriptions"`
	Subscribed    int       `json:"subscribed"` // how many filters, when Subscriptions is cut
	Inflight      int       `json:"inflight"`   // QoS 1 and 2 messages awaiting acknowledgement; for SSE, events queued
	// MessagesIn and MessagesOut count the PUBLISH packets received
	// from and sent to an MQTT session since it connected; nil for an
	// SSE stream, whose events are not counted per stream.
	MessagesIn  *int64 `json:"messages_in,omitempty"`
	MessagesOut *int64 `json:"messages_out,omitempty"`
}

// Answer is the control plane's answer to a report: the clients the node
// must disconnect (DISCONNECT 0x98, administrative action).
type Answer struct {
	Disconnect []Target `json:"disconnect"`
}

// Target names one client of one broker.
type Target struct {
	BrokerID string `json:"broker_id"`
	ClientID string `json:"client_id"`
}
