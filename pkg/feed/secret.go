package feed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// SecretBox encrypts the secrets of HMAC keys for one node, in the feed
// and in the node's disk cache. Its key is derived from the SHA-256 hash
// of the node's token, which the control plane stores and the node can
// compute: the secrets are readable only with the node token (or the
// control plane's database), whether the feed runs over TLS or not and
// wherever the cache file is copied. It is AES-256-GCM with the broker id
// and key id as additional data, so a sealed secret moved to another key
// does not open.
type SecretBox struct {
	aead cipher.AEAD
}

// NewSecretBox returns the box of the node whose token hashes (SHA-256)
// to tokenHash.
func NewSecretBox(tokenHash []byte) *SecretBox {
	mac := hmac.New(sha256.New, tokenHash)
	mac.Write([]byte("pubsub feed secrets v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &SecretBox{aead: aead}
}

// NewSecretBoxForToken is NewSecretBox for the node token itself.
func NewSecretBoxForToken(nodeToken string) *SecretBox {
	h := sha256.Sum256([]byte(nodeToken))
	return NewSecretBox(h[:])
}

// Seal encrypts secret for key kid of broker brokerID.
func (b *SecretBox) Seal(secret []byte, brokerID, kid string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(secret)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b.aead.Seal(nonce, nonce, secret, []byte(brokerID+"/"+kid)))
}

// ErrSealed is Open's error for a sealed secret that does not open: sealed
// for another node token, or altered.
var ErrSealed = errors.New("feed: a signing key's secret does not open with this node's token")

// Open decrypts what Seal returned for the same broker and key.
func (b *SecretBox) Open(sealed, brokerID, kid string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n+b.aead.Overhead() {
		return nil, ErrSealed
	}
	out, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(brokerID+"/"+kid))
	if err != nil {
		return nil, ErrSealed
	}
	return out, nil
}

// ticketKeyScope is the broker id that binds a sealed TLS session ticket
// key: broker ids are hex, so no broker's key opens as a ticket key.
const ticketKeyScope = "tls-ticket"

// SealSecrets seals the Secret of every HMAC key, hook key and ticket key in ev, in place, and
// clears it: the control plane calls it before it writes the event.
func (b *SecretBox) SealSecrets(ev *Event) {
	b.each(ev, func(br *Broker, k *HMACKey) error {
		k.Sealed, k.Secret = b.Seal(k.Secret, br.ID, k.ID), nil
		return nil
	})
}

// OpenSecrets opens the Sealed secret of every HMAC key, hook key and ticket key in ev into its
// Secret, in place. It stops at the first that does not open (ErrSealed).
func (b *SecretBox) OpenSecrets(ev *Event) error {
	return b.each(ev, func(br *Broker, k *HMACKey) (err error) {
		k.Secret, err = b.Open(k.Sealed, br.ID, k.ID)
		return err
	})
}

func (b *SecretBox) each(ev *Event, fn func(*Broker, *HMACKey) error) error {
	all := make([]*Broker, 0, len(ev.Brokers)+1)
	if ev.Broker != nil {
		all = append(all, ev.Broker)
	}
	for i := range ev.Brokers {
		all = append(all, &ev.Brokers[i])
	}
	for i := range ev.TicketKeys {
		if err := fn(&Broker{ID: ticketKeyScope}, &ev.TicketKeys[i]); err != nil {
			return err
		}
	}
	for _, br := range all {
		for j := range br.HMACKeys {
			if err := fn(br, &br.HMACKeys[j]); err != nil {
				return err
			}
		}
		// The hook key's kid (a 43-character thumbprint) never equals an
		// HMAC key's (8 hex characters), so neither opens as the other.
		if br.HookKey != nil {
			if err := fn(br, br.HookKey); err != nil {
				return err
			}
		}
	}
	return nil
}
