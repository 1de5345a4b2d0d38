package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
)

// JWK is an Ed25519 public key as a JSON Web Key (RFC 7517, RFC 8037), in
// the form the /publickeys endpoint returns.
type JWK struct {
	Use string `json:"use"` // "sig"
	Kty string `json:"kty"` // "OKP"
	Kid string `json:"kid"` // the RFC 7638 thumbprint
	Crv string `json:"crv"` // "Ed25519"
	Alg string `json:"alg"` // "EdDSA"
	X   string `json:"x"`   // the public key, base64url without padding
}

// JWKSet is a JSON Web Key Set, {"keys":[...]}.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// NewJWK returns the JWK of pub, with its thumbprint as kid.
func NewJWK(pub ed25519.PublicKey) JWK {
	x := b64.EncodeToString(pub)
	return JWK{Use: "sig", Kty: "OKP", Kid: thumbprintX(x), Crv: "Ed25519", Alg: "EdDSA", X: x}
}

// Thumbprint returns the RFC 7638 JWK SHA-256 thumbprint of an Ed25519
// public key, base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string {
	return thumbprintX(b64.EncodeToString(pub))
}

func thumbprintX(x string) string {
	// RFC 7638 §3.2: the required members only, in lexical order, without
	// whitespace. x is base64url, so it needs no JSON escaping.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return b64.EncodeToString(sum[:])
}

// PublicKey returns the key k describes. It requires kty OKP, crv Ed25519,
// alg EdDSA and use sig (or alg and use absent), an x of exactly 32 bytes in
// unpadded base64url, and a kid equal to the key's thumbprint, so that a
// key can never be published under another key's id.
func (k JWK) PublicKey() (ed25519.PublicKey, error) {
	switch {
	case k.Kty != "OKP":
		return nil, errors.New("token: JWK kty must be OKP")
	case k.Crv != "Ed25519":
		return nil, errors.New("token: JWK crv must be Ed25519")
	case k.Alg != "" && k.Alg != "EdDSA":
		return nil, errors.New("token: JWK alg must be EdDSA")
	case k.Use != "" && k.Use != "sig":
		return nil, errors.New("token: JWK use must be sig")
	case decodedLen(len(k.X)) != ed25519.PublicKeySize:
		return nil, errors.New("token: JWK x must be a 32-byte key in unpadded base64url")
	}
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if !decodeSegment(pub, k.X) {
		return nil, errors.New("token: JWK x must be a 32-byte key in unpadded base64url")
	}
	if want := thumbprintX(k.X); k.Kid != want {
		return nil, fmt.Errorf("token: JWK kid %q is not the key's thumbprint %q", k.Kid, want)
	}
	return pub, nil
}

// Key returns the key with the given kid, when it is valid. It parses the
// JWK on each call; hot paths should use Keys from ParseKeys instead.
func (s JWKSet) Key(kid string) (ed25519.PublicKey, bool) {
	for _, k := range s.Keys {
		if k.Kid == kid {
			pub, err := k.PublicKey()
			return pub, err == nil
		}
	}
	return nil, false
}

// ParseKeys validates every key of s, as JWK.PublicKey does, and returns
// them as Keys. It refuses a set that names a kid twice.
func (s JWKSet) ParseKeys() (Keys, error) {
	keys := make(Keys, len(s.Keys))
	for i, k := range s.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if _, dup := keys[k.Kid]; dup {
			return nil, fmt.Errorf("key %d: token: JWK kid %q appears twice", i, k.Kid)
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}

// NewKey returns pub as a Key whose ID is its thumbprint, the kid our JWKs
// and tokens carry.
func NewKey(pub ed25519.PublicKey) Key {
	return Key{ID: Thumbprint(pub), Public: pub}
}

// NewKeys returns Keys holding ks. Each key must have an ID and be 32
// bytes, and no ID may appear twice.
func NewKeys(ks ...Key) (Keys, error) {
	keys := make(Keys, len(ks))
	for i, k := range ks {
		switch _, dup := keys[k.ID]; {
		case k.ID == "":
			return nil, fmt.Errorf("token: key %d has no ID", i)
		case len(k.Public) != ed25519.PublicKeySize:
			return nil, fmt.Errorf("token: key %q is %d bytes, want %d", k.ID, len(k.Public), ed25519.PublicKeySize)
		case dup:
			return nil, fmt.Errorf("token: key ID %q appears twice", k.ID)
		}
		keys[k.ID] = k.Public
	}
	return keys, nil
}
