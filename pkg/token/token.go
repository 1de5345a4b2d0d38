// Package token is the Ed25519 JWT format shared by the control plane, which
// mints tokens, and the broker nodes, which verify them offline with public
// keys only.
package token

import (
	"crypto/ed25519"
	"time"
)

// Claims are the claims of a Pub/Sub client token.
type Claims struct {
	Subject      string   // sub: the MQTT client id
	ID           string   // jti: a ULID, used for revocation
	Audience     string   // aud: <broker>.<namespace>.<domain>
	IssuedAt     int64    // iat, Unix seconds
	ExpiresAt    int64    // exp, Unix seconds; 0 when the token has no exp
	TopicACL     []string // topicAcl: filters allowed in both directions
	PublishACL   []string // publishAcl: when non-nil, narrows publishing
	SubscribeACL []string // subscribeAcl: when non-nil, narrows subscribing
}

// Key is one public verification key.
type Key struct {
	ID     string // kid
	Public ed25519.PublicKey
}

// KeySet finds a verification key by kid.
type KeySet interface {
	Key(kid string) (ed25519.PublicKey, bool)
}

// Sign returns the compact JWT for c with header {"alg":"EdDSA","kid":kid}.
func Sign(priv ed25519.PrivateKey, kid string, c *Claims) (string, error) { panic("TODO") }

// Verify checks tok: header alg EdDSA, a kid present in keys, a valid
// signature, aud == audience, and exp (when present) not before now-leeway.
// It returns the claims, or an *Error telling which check failed.
func Verify(tok string, keys KeySet, audience string, now time.Time, leeway time.Duration) (*Claims, error) {
	panic("TODO")
}

// PeekAudience returns the aud claim of tok WITHOUT verifying it; it is only
// for routing a connection that sent no TLS SNI. Verification follows.
func PeekAudience(tok string) (string, error) { panic("TODO") }

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of an Ed25519
// public key, base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string { panic("TODO") }
