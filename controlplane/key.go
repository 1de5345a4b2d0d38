package controlplane

import (
	"context"
	"time"
)

// Key states. A broker always has exactly one current key (it signs new
// tokens) and one next key (published ahead of time so verifiers already
// have it when it becomes current). Retired keys still verify the tokens
// they signed until an operator deletes them.
const (
	KeyCurrent = "current"
	KeyNext    = "next"
	KeyRetired = "retired"
)

// SigningKey is one Ed25519 key of a broker. The private key is stored only
// sealed with the key-encryption key (see Sealer).
type SigningKey struct {
	ID         string // RFC 7638 JWK thumbprint of the public key: the JWT kid
	BrokerID   string
	State      string
	PublicKey  []byte // 32 bytes
	SealedKey  []byte // the private key seed, sealed
	CreatedOn  time.Time
	ModifiedOn time.Time
}

// KeyStore persists signing keys. Every mutation also appends to the change
// feed in the same transaction.
type KeyStore interface {
	// ListKeys returns the broker's keys: current first, then next, then
	// retired keys from newest to oldest.
	ListKeys(ctx context.Context, brokerID string) ([]*SigningKey, error)
	// RotateKeys retires the current key, promotes the next key to current
	// and inserts next (State must be KeyNext). Returns ENOTFOUND for an
	// unknown broker.
	RotateKeys(ctx context.Context, brokerID string, next *SigningKey) error
	// DeleteKey deletes a retired key. Returns ENOTFOUND for an unknown kid,
	// EKEYINUSE for the current or next key.
	DeleteKey(ctx context.Context, brokerID, kid string) error
}
