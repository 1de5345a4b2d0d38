package controlplane

import (
	"context"
	"time"
)

// Credential is the stored metadata of one minted token. The token itself
// is never stored: it is returned once, at minting.
type Credential struct {
	JTI          string
	BrokerID     string
	ClientID     string
	KeyID        string
	IssuedAt     time.Time
	ExpiresAt    *time.Time // nil when the token has no exp claim
	TopicACL     []string
	PublishACL   []string // nil when the token has no publishAcl claim
	SubscribeACL []string // nil when the token has no subscribeAcl claim
}

// Revocation marks a credential as revoked. ExpiresAt copies the token's
// expiry so that the entry drops off by itself once the token is dead anyway.
type Revocation struct {
	JTI       string
	BrokerID  string
	RevokedAt time.Time
	ExpiresAt *time.Time
}

// CredentialStore persists credential metadata and revocations. Revocation
// changes also append to the change feed in the same transaction.
type CredentialStore interface {
	// CreateCredentials inserts the metadata of freshly minted tokens, all in
	// one transaction.
	CreateCredentials(ctx context.Context, creds []*Credential) error
	// FindCredential returns one credential of the broker, or ENOTFOUNDJTI.
	FindCredential(ctx context.Context, brokerID, jti string) (*Credential, error)
	// ListCredentials returns one page of the broker's credentials, newest
	// first, and the total.
	ListCredentials(ctx context.Context, brokerID string, p Page) ([]*Credential, int, error)

	// RevokeCredentials revokes the given jtis of the broker at time now.
	// Already revoked jtis are left as they are. Returns ENOTFOUNDJTI naming
	// every jti the broker never issued (and revokes none), or
	// EREVOCATIONLIMIT when more than limit unexpired revocations would exist.
	RevokeCredentials(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int) error
	// UnrevokeCredentials removes revocations. Returns ENOTFOUNDJTI naming
	// every jti the broker never issued (and removes none).
	UnrevokeCredentials(ctx context.Context, brokerID string, jtis []string) error
	// ListRevocations returns one page of the broker's revocations whose
	// token has not expired at now, oldest first, and the total.
	ListRevocations(ctx context.Context, brokerID string, now time.Time, p Page) ([]*Revocation, int, error)
	// PurgeRevocations deletes revocations of tokens that expired before now
	// and returns how many it deleted.
	PurgeRevocations(ctx context.Context, now time.Time) (int, error)
}
