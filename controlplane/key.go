package controlplane

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/openpubsub/pubsub/pkg/token"
)

// Key states. A broker always has exactly one current key (it signs new
// tokens) and one next key (published ahead of time so verifiers already
// have it when it becomes current). Retired keys still verify the tokens
// they signed until an operator deletes them.
const (
	KeyCurrent = "current"
	KeyNext    = "next"
	KeyRetired = "retired"
	// KeyHook is the state of the key that signs the broker's on-publish
	// hook requests (Sealer.HookKey): listed last in the JWKS, never
	// stored, rotated or deleted, and never sent to nodes as a key that
	// verifies tokens.
	KeyHook = "hook"
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

// newKey generates an Ed25519 key for a broker and seals its private half.
func (s *Service) newKey(brokerID, state string, now time.Time) *SigningKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	kid := token.Thumbprint(pub)
	return &SigningKey{ID: kid, BrokerID: brokerID, State: state, PublicKey: pub, SealedKey: s.sealer.Seal(priv.Seed(), brokerID, kid), CreatedOn: now, ModifiedOn: now}
}

// PublicKeys returns the broker's keys that verify tokens: current, next,
// then retired ones not yet deleted. Returns ENOTFOUND.
func (s *Service) PublicKeys(ctx context.Context, accountID, namespace, name string) ([]*SigningKey, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.listKeys(ctx, b.ID)
}

// listKeys returns the broker's stored keys followed by its hook key.
func (s *Service) listKeys(ctx context.Context, brokerID string) ([]*SigningKey, error) {
	keys, err := s.store.ListKeys(ctx, brokerID)
	if err != nil {
		return nil, err
	}
	return append(keys, s.hookKey(brokerID)), nil
}

// HookSigner returns the broker's hostname, the on-publish hook key's
// kid and the key, with which the control plane signs the sample batch
// of a hook test.
func (s *Service) HookSigner(b *Broker) (hostname, kid string, key ed25519.PrivateKey) {
	key = s.sealer.HookKey(b.ID)
	return b.Hostname(s.cfg.Domain), token.Thumbprint(key.Public().(ed25519.PublicKey)), key
}

// hookKey returns the public half of the broker's hook key.
func (s *Service) hookKey(brokerID string) *SigningKey {
	pub := s.sealer.HookKey(brokerID).Public().(ed25519.PublicKey)
	return &SigningKey{ID: token.Thumbprint(pub), BrokerID: brokerID, State: KeyHook, PublicKey: pub}
}

// RotateKeys makes the next key current, retires the current key (it still
// verifies the tokens it signed) and creates a new next key.
func (s *Service) RotateKeys(ctx context.Context, accountID, namespace, name string) ([]*SigningKey, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	if err := s.store.RotateKeys(ctx, b.ID, s.newKey(b.ID, KeyNext, s.now())); err != nil {
		return nil, err
	}
	s.changed()
	return s.listKeys(ctx, b.ID)
}

// DeleteKey deletes a retired key, which invalidates every token it signed.
// Returns ENOTFOUND, or EKEYINUSE for the current or next key.
func (s *Service) DeleteKey(ctx context.Context, accountID, namespace, name, kid string) error {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return err
	}
	if kid == s.hookKey(b.ID).ID {
		return Errorf(EKEYINUSE, "key %q signs the broker's on-publish hook requests and cannot be deleted", kid)
	}
	if err := s.store.DeleteKey(ctx, b.ID, kid); err != nil {
		return err
	}
	s.keyMu.Lock()
	delete(s.keyCache, kid)
	s.keyMu.Unlock()
	s.changed()
	return nil
}

// signingKey returns the broker's current key, unsealed. Unsealed keys are
// cached by kid: a kid is a hash of the public key, so it never names
// another key, and minting in bulk then costs no decryption.
func (s *Service) signingKey(ctx context.Context, brokerID string) (string, ed25519.PrivateKey, error) {
	keys, err := s.store.ListKeys(ctx, brokerID)
	if err != nil {
		return "", nil, err
	}
	for _, k := range keys {
		if k.State != KeyCurrent {
			continue
		}
		s.keyMu.Lock()
		priv, ok := s.keyCache[k.ID]
		s.keyMu.Unlock()
		if ok {
			return k.ID, priv, nil
		}
		seed, err := s.sealer.Open(k.SealedKey, brokerID, k.ID)
		if err != nil {
			return "", nil, err
		}
		priv = ed25519.NewKeyFromSeed(seed)
		s.keyMu.Lock()
		s.keyCache[k.ID] = priv
		s.keyMu.Unlock()
		return k.ID, priv, nil
	}
	return "", nil, fmt.Errorf("broker %s has no current signing key", brokerID)
}
