// Package broker holds what a broker node knows and the seams other work
// plugs into, without any MQTT library: the immutable configuration
// snapshot (State) built from the control plane's config feed, the source
// that produces those snapshots (ConfigSource), and the interfaces a
// future cluster (fan-out between nodes, shared retained messages) will
// implement.
//
// A node serves many Pub/Sub brokers. Everything it needs to authenticate
// a client and enforce its credentials offline (public keys, revocations,
// the broker's token expiration) lives in a State. States are values: a
// change produces a new State that shares every untouched broker with the
// old one, so the hot paths read the current State through one atomic
// pointer and never take a lock, and the node can tell exactly which
// brokers changed by comparing pointers.
//
// The MQTT server itself lives in broker/node; this package must not
// import it, mochi-mqtt or anything that does network I/O.
package broker
