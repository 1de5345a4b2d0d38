package controlplane

import "context"

// Store is everything the control plane persists. postgres.Store and
// sqlite.Store implement it, and both pass the contract suite in
// controlplane/storetest.
type Store interface {
	AccountStore
	NamespaceStore
	BrokerStore
	KeyStore
	HMACKeyStore
	TicketKeyStore
	CredentialStore
	ChangeStore
	NodeStore
	ClientReportStore

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}
