package controlplane

import (
	"context"
	"time"
)

// Change kinds. A change row says what changed, not to what: readers of the
// feed look up the current state, so a reader that applies changes in
// revision order always converges on the latest state.
const (
	ChangeNamespace  = "namespace"   // a namespace was created or deleted
	ChangeBroker     = "broker"      // a broker was created, updated or deleted
	ChangeKeys       = "keys"        // a broker's key set changed (rotation, deletion)
	ChangeRevocation = "revocation"  // a jti was revoked or unrevoked
	ChangeTicketKeys = "ticket_keys" // the fleet's TLS session ticket keys rotated (no namespace, no broker)
)

// Change is one entry of the change feed. Revisions are strictly increasing
// in commit order: a reader that has seen revision N and asks for everything
// after N never misses a change that commits later.
type Change struct {
	Revision    int64
	Kind        string
	NamespaceID string
	BrokerID    string // "" for namespace changes
	JTI         string // set for revocation changes
	At          time.Time
}

// BrokerState is the full state of one broker as a broker node needs it.
type BrokerState struct {
	Broker      *Broker
	Keys        []*SigningKey // with SealedKey cleared
	Revocations []*Revocation // unexpired only
	// HMACKeys are the keys of self-signed tokens, with their sealed
	// secrets; the stores read them only when the broker enables them.
	HMACKeys []*HMACKey
}

// Snapshot is the consistent state of every broker at Revision.
type Snapshot struct {
	Revision int64
	Brokers  []*BrokerState
}

// ChangeStore reads the change feed.
type ChangeStore interface {
	// ListChanges returns at most limit changes with Revision > after, in
	// revision order.
	ListChanges(ctx context.Context, after int64, limit int) ([]*Change, error)
	// OldestRevision returns the smallest revision still in the feed (0 if
	// the feed is empty): a reader behind it must start from a snapshot.
	OldestRevision(ctx context.Context) (int64, error)
	// LatestRevision returns the revision of the last committed change (0
	// before the first); pruning never lowers it.
	LatestRevision(ctx context.Context) (int64, error)
	// Snapshot returns the state of every broker and the revision it is at,
	// read in one consistent transaction; revocations exclude those expired at now.
	Snapshot(ctx context.Context, now time.Time) (*Snapshot, error)
	// FindBrokerState returns one broker's state, or ENOTFOUND if it no
	// longer exists.
	FindBrokerState(ctx context.Context, brokerID string, now time.Time) (*BrokerState, error)
	// FindRevocation returns the revocation of jti, or ENOTFOUND when it is
	// not (or no longer) revoked.
	FindRevocation(ctx context.Context, brokerID, jti string) (*Revocation, error)
	// PruneChanges deletes changes with Revision <= before and returns how
	// many. It always keeps the newest change, so that the feed is empty
	// only before the first change and OldestRevision never hides pruned
	// changes from a reader.
	PruneChanges(ctx context.Context, before int64) (int, error)
}
