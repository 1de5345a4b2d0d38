// Package node is a broker node: it terminates MQTT v5 over TLS for every
// Pub/Sub broker in its broker.State, with one mochi-mqtt server per
// broker so that client ids, sessions, subscriptions and retained messages
// of different brokers never meet.
//
// # Routing
//
// A connection is routed by its TLS SNI name, looked up among the
// hostnames of the current State; an unknown name fails the handshake. A
// client that sends no SNI (it dialed an IP address) is routed by the aud
// claim of its token: the node reads the first packet itself, bounded in
// size and time, requires a v5 CONNECT, peeks at the password's audience,
// then hands the connection to that broker's server with the bytes
// already read replayed in front of the rest.
//
// # Authentication and ACLs
//
// A mochi hook per broker verifies the token in the CONNECT password
// (signature by one of the broker's keys, aud, exp, revocation, the
// broker's expiration), makes the token's sub the session's client id,
// and compiles the token's ACLs once into a session object that the
// PUBLISH, SUBSCRIBE and delivery checks read without locks or
// allocations.
//
// # Enforcement
//
// Apply swaps in a new State and, for each broker whose *broker.Broker
// changed, ends the sessions the change invalidates: revoked jti, removed
// key, deleted broker, lowered expiration. Sessions are indexed by jti and
// kid so that revocation costs no scan, and each session's token expiry
// is a timer rather than a poll.
//
// # Reason codes
//
// CONNACK: 0x84 for MQTT 3.x (sent in the 3.1.1 form, return code 0x01,
// since a 3.x client cannot read a v5 reason code), 0x85 client id too
// long, 0x86 missing, malformed, unverifiable, expired or too old token,
// 0x87 revoked token, 0x88 broker not served (deleted meanwhile), 0x90
// will topic not allowed by the token (MQTT v5 section 3.2.2.2 gives 0x90
// for a will topic the server does not accept; 0x87 would tell the client
// it may not connect at all). PUBACK or PUBREC 0x87 for a publish the ACL
// refuses (a QoS 0 one is dropped and counted); PUBACK or PUBREC 0x97 for
// a retained publish over the broker's retained quota (retained.go).
// SUBACK 0x87 per refused
// filter. DISCONNECT 0x87 revoked token or removed key, 0x98 broker
// deleted or its expiration lowered below the token's age, 0xA0 token
// expired while connected, 0x95 packet too large, 0x96 message rate too
// high, 0x8E session taken over, 0x8B node shutting down. A client whose
// socket stays unwritable for Limits.WriteTimeout (it stopped reading) is
// closed without a DISCONNECT, which it could not be sent, and counted as
// a slow consumer; nobody else waits on it.
package node
