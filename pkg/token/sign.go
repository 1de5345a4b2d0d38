package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/openpubsub/pubsub/pkg/topic"
)

var b64 = base64.RawURLEncoding

// sigLen is the length of an encoded Ed25519 signature.
var sigLen = b64.EncodedLen(ed25519.SignatureSize)

// Sign returns the compact JWT for c with header {"alg":"EdDSA","kid":kid},
// made by golang-jwt (signing runs on the control plane, off any hot path,
// so it uses the well-known library; the nodes verify with Verify).
//
// The claims are written in a fixed order: iat, exp (only when ExpiresAt
// is not 0), sub, jti, aud, topicAcl (always, [] when nil), then
// publishAcl and subscribeAcl (only when non-nil). Sign refuses claims that
// Verify would refuse whatever the time: empty sub, jti or aud, strings
// that are not UTF-8, negative or out-of-range times, invalid ACL filters
// (the error wraps a *topic.ACLError), and tokens over MaxSize (a
// *SizeError, which callers can report as bad input: the claims are too
// long, not the key or the code).
func Sign(priv ed25519.PrivateKey, kid string, c *Claims) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		// ed25519.Sign would panic.
		return "", fmt.Errorf("token: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	if c == nil {
		return "", errors.New("token: no claims")
	}
	if err := checkClaims(kid, c); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, newWireClaims(c))
	// golang-jwt adds "typ": "JWT", which the format does not have.
	t.Header = map[string]any{"alg": jwt.SigningMethodEdDSA.Alg(), "kid": kid}
	signed, err := t.SigningString()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if size := len(signed) + 1 + sigLen; size > MaxSize {
		return "", &SizeError{Size: size}
	}
	sig, err := t.Method.Sign(signed, priv)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return signed + "." + t.EncodeSegment(sig), nil
}

// wireClaims is the claims object as encoding/json writes it, in field
// order. The narrowing ACLs are pointers so that nil (no narrowing) is
// left out while an empty list (narrowed to nothing) is written as [].
type wireClaims struct {
	IssuedAt     int64     `json:"iat"`
	ExpiresAt    int64     `json:"exp,omitempty"`
	Subject      string    `json:"sub"`
	ID           string    `json:"jti"`
	Audience     string    `json:"aud"`
	TopicACL     []string  `json:"topicAcl"`
	PublishACL   *[]string `json:"publishAcl,omitempty"`
	SubscribeACL *[]string `json:"subscribeAcl,omitempty"`
}

func newWireClaims(c *Claims) *wireClaims {
	w := &wireClaims{IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Subject: c.Subject, ID: c.ID, Audience: c.Audience, TopicACL: c.TopicACL}
	if w.TopicACL == nil {
		w.TopicACL = []string{}
	}
	if c.PublishACL != nil {
		w.PublishACL = &c.PublishACL
	}
	if c.SubscribeACL != nil {
		w.SubscribeACL = &c.SubscribeACL
	}
	return w
}

// The jwt.Claims methods; golang-jwt's validator never runs on these
// claims, since Sign only signs.

func (w *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	if w.ExpiresAt == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(w.ExpiresAt, 0)), nil
}
func (w *wireClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(w.IssuedAt, 0)), nil
}
func (w *wireClaims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (w *wireClaims) GetIssuer() (string, error)              { return "", nil }
func (w *wireClaims) GetSubject() (string, error)             { return w.Subject, nil }
func (w *wireClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings{w.Audience}, nil
}

func checkClaims(kid string, c *Claims) error {
	for _, f := range []struct{ name, value string }{
		{"kid", kid}, {"sub", c.Subject}, {"jti", c.ID}, {"aud", c.Audience},
	} {
		if f.value == "" {
			return fmt.Errorf("token: %s is empty", f.name)
		}
		if !utf8.ValidString(f.value) {
			return fmt.Errorf("token: %s is not valid UTF-8", f.name)
		}
	}
	if len(kid) > maxKID {
		return fmt.Errorf("token: kid is longer than %d bytes", maxKID)
	}
	if c.IssuedAt < 0 || c.IssuedAt > maxNumericDate {
		return fmt.Errorf("token: iat %d is outside 0 to %d", c.IssuedAt, maxNumericDate)
	}
	if c.ExpiresAt < 0 || c.ExpiresAt > maxNumericDate {
		return fmt.Errorf("token: exp %d is outside 0 to %d", c.ExpiresAt, maxNumericDate)
	}
	for _, acl := range []struct {
		name    string
		filters []string
	}{
		{"topicAcl", c.TopicACL}, {"publishAcl", c.PublishACL}, {"subscribeAcl", c.SubscribeACL},
	} {
		if err := topic.ValidateACL(acl.filters); err != nil {
			return fmt.Errorf("token: %s: %w", acl.name, err)
		}
	}
	return nil
}

// SizeError is Sign's error for claims that would make a token larger than
// MaxSize.
type SizeError struct {
	Size int // bytes the token would have
}

// Error says how large the token would be and what the limit is.
func (e *SizeError) Error() string {
	return fmt.Sprintf("token: token would be %d bytes, more than the %d that Verify accepts", e.Size, MaxSize)
}
