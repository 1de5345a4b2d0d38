// Package edge is the HTTP side of a broker node, on the same hostnames,
// certificates, tokens and ACLs as MQTT:
//
//   - GET /events?topic=a&topic=b streams messages as Server-Sent Events;
//   - POST /events?topic=t publishes the request body;
//   - /mqtt (and /) is MQTT over WebSocket, handed to the node's MQTT
//     server for the broker as a plain byte stream;
//   - / serves an example page when enabled.
//
// The node decides which TLS connections are HTTP (ALPN, or the first
// byte) and feeds them to Serve; the edge reaches the brokers through the
// Backend the node implements, and never imports an MQTT library.
//
// # SSE fan-out
//
// A hub per broker holds one bus subscription per topic filter, however
// many streams name it. A message is rendered once per filter, stored in
// the filter's bounded replay buffer, and pushed to each stream's small
// queue without blocking; a stream whose queue is full is ended (it can
// resume with Last-Event-ID). Each stream writes from its own request
// goroutine; HTTP/1.1 streams hijack the connection so that net/http's
// buffers are freed for the stream's life.
//
// # Event ids
//
// An id is a cursor: the hub's epoch and, per filter of the request, the
// sequence number of the last message of that filter the client has. A
// reconnect with Last-Event-ID gets the messages after that cursor from
// the replay buffers; one that cannot be served (another epoch, or a gap
// the buffer no longer covers) gets the retained messages first when
// durable=true.
//
// # In a fleet
//
// When the broker's bus has a Journal (JournaledBus: a node of a fleet),
// the subscriptions follow the journal instead of the bus, the epoch is
// the journal's and sequence numbers are the journal's, the same on every
// node: a client resumes on any node, and what a buffer no longer holds
// (or never held, on a node the client was not on) is read from the
// journal, before the buffer and the live events, without gap or repeat.
package edge
