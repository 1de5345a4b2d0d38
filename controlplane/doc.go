// Package controlplane holds the domain of the Pub/Sub control plane: the
// types (accounts, namespaces, brokers, signing keys, credentials,
// revocations, node tokens and the change feed), the Store interface that
// persistence packages implement (postgres/, sqlite/), and the Service that
// validates input, generates ids, keys and tokens, and calls the Store.
//
// This package imports no driver: no database, no router, no MQTT library.
// Dependencies point inward, towards it.
package controlplane
