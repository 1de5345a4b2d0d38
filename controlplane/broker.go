package controlplane

import (
	"context"
	"time"
)

// AuthTypeToken is the only broker authentication type: per-client JWTs.
const AuthTypeToken = "TOKEN"

// Broker is an MQTT broker, reachable at <name>.<namespace>.<domain>.
type Broker struct {
	ID            string
	NamespaceID   string
	NamespaceName string
	Name          string
	AuthType      string
	Description   string
	// Expiration is the longest lifetime, in seconds, of any credential of
	// this broker; nil means credentials may live forever. It also applies
	// to credentials minted before it was set: the broker nodes refuse a
	// token older than the broker's current expiration.
	Expiration *int64
	// OnPublishURL is the webhook called for each publish; "" when unset.
	OnPublishURL string
	CreatedOn    time.Time
	ModifiedOn   time.Time
}

// Hostname is the broker's DNS name under domain.
func (b *Broker) Hostname(domain string) string {
	return b.Name + "." + b.NamespaceName + "." + domain
}

// BrokerStore persists brokers. Every mutation also appends to the change
// feed in the same transaction.
type BrokerStore interface {
	// CreateBroker inserts b (b.NamespaceID must be set) together with its
	// first signing keys. Returns ECONFLICT (ErrBrokerTaken).
	CreateBroker(ctx context.Context, b *Broker, keys []*SigningKey) error
	// FindBroker returns a broker by account, namespace and broker name.
	// Returns ENOTFOUND (ErrNamespaceNotFound or ErrBrokerNotFound).
	FindBroker(ctx context.Context, accountID, namespace, name string) (*Broker, error)
	// FindBrokerByID returns a broker by id, or ENOTFOUND.
	FindBrokerByID(ctx context.Context, id string) (*Broker, error)
	// ListBrokers returns one page of a namespace's brokers ordered by
	// creation, and the total. Returns ENOTFOUND for an unknown namespace.
	ListBrokers(ctx context.Context, accountID, namespace string, p Page) ([]*Broker, int, error)
	// UpdateBroker writes b's Description, Expiration, OnPublishURL and
	// ModifiedOn. Returns ENOTFOUND.
	UpdateBroker(ctx context.Context, b *Broker) error
	// DeleteBroker deletes the broker with this id and everything it owns
	// (keys, credentials, revocations). Returns ENOTFOUND.
	DeleteBroker(ctx context.Context, id string) error
}
