// Package token is the Ed25519 JWT format shared by the control plane, which
// mints tokens, and the broker nodes, which verify them offline with public
// keys only.
//
// A token is a compact JWS (RFC 7515) with the header
// {"alg":"EdDSA","kid":"<kid>"}, where kid is the RFC 7638 thumbprint of the
// broker's signing key, and the claims iat, exp (optional), sub (the MQTT
// client id), jti (a ULID, for revocation), aud (the broker's hostname) and
// topicAcl, publishAcl, subscribeAcl (topic filter lists). Keys are
// published as a JWK Set (RFC 7517, RFC 8037).
//
// Sign makes tokens with golang-jwt (the control plane mints them, off any
// hot path); Verify, which the nodes run at every CONNECT, is our own, for
// the measured reasons in docs/decisions.md ("The two big choices").
//
// Verification is strict on purpose: the format has one producer, this
// package, so anything it would not have produced is refused rather than
// interpreted. Verify checks the signature before it reads the claims, and
// its errors never repeat token contents, so they can go into an MQTT
// reason string as they are.
package token

import (
	"crypto/ed25519"
	"time"
)

// MaxSize is the largest token, in bytes, that Verify, Parse and
// PeekAudience accept and that Sign produces. It bounds the work an
// unauthenticated client can cause before the signature check.
const MaxSize = 8192

// MaxLifetime is the longest lifetime the control plane gives a token
// (exp - iat), and the largest broker expiration (the age cap on tokens)
// it stores and that nodes apply: 3650 days, about ten years. Keeping
// every lifetime under it keeps iat plus a lifetime far from overflowing
// time.Duration (292 years) and int64 Unix seconds. Longer-lived
// credentials are asked for as "no expiration" instead.
const MaxLifetime = 3650 * 24 * time.Hour

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

// Keys is a KeySet held in a map from kid to public key. It is the KeySet
// for hot paths: Verify looks it up without allocating. Build it once per
// key set change (JWKSet.ParseKeys validates each key) and share it
// read-only.
type Keys map[string]ed25519.PublicKey

// Key returns the key with the given kid.
func (k Keys) Key(kid string) (ed25519.PublicKey, bool) {
	pub, ok := k[kid]
	return pub, ok
}
