package controlplane

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Sealer encrypts private signing keys at rest with the key-encryption key
// (KEK). It uses AES-256-GCM, and binds each sealed key to its broker and
// kid as additional data, so a sealed key copied to another row fails to open.
type Sealer struct {
	aead cipher.AEAD
	// hookRoot derives the brokers' hook signing keys (HookKey).
	hookRoot []byte
}

// ParseKEK decodes a 32-byte key-encryption key given as 64 hex characters
// or as standard/URL base64.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("the key-encryption key must be 32 bytes, written as 64 hex characters or base64")
}

// NewKEK returns a fresh random key-encryption key, hex encoded.
func NewKEK() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// NewSealer returns a Sealer for a 32-byte KEK.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != 32 {
		return nil, fmt.Errorf("key-encryption key: want 32 bytes, got %d", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte("pubsub on-publish hook keys v1"))
	mac.Write(kek)
	return &Sealer{aead: aead, hookRoot: mac.Sum(nil)}, nil
}

// HookKey returns the Ed25519 key that signs broker brokerID's on-publish
// hook requests. It is derived from the KEK and the broker id rather than
// stored: every broker has one from the moment it exists (and every
// broker created before hooks were signed, too), and it stays the same
// across the rotations of the broker's token keys, as the JWKS a hook
// receiver copied must keep verifying. The derivation is an HMAC keyed
// with a root that is itself an HMAC of the KEK under a fixed label, so
// the KEK never keys two primitives directly.
func (s *Sealer) HookKey(brokerID string) ed25519.PrivateKey {
	mac := hmac.New(sha256.New, s.hookRoot)
	mac.Write([]byte(brokerID))
	return ed25519.NewKeyFromSeed(mac.Sum(nil))
}

// Seal encrypts secret for (brokerID, kid). The result is nonce || ciphertext.
func (s *Sealer) Seal(secret []byte, brokerID, kid string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return s.aead.Seal(nonce, nonce, secret, []byte(brokerID+"/"+kid))
}

// Open decrypts a sealed secret for (brokerID, kid). It fails when the KEK
// is wrong or the sealed bytes were altered or moved.
func (s *Sealer) Open(sealed []byte, brokerID, kid string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, fmt.Errorf("sealed key of broker %s is truncated", brokerID)
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(brokerID+"/"+kid))
	if err != nil {
		return nil, fmt.Errorf("cannot unseal key %s of broker %s: wrong key-encryption key or corrupted data", kid, brokerID)
	}
	return out, nil
}
