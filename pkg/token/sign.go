package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/openpubsub/pubsub/pkg/topic"
)

var b64 = base64.RawURLEncoding

// Sign returns the compact JWT for c with header {"alg":"EdDSA","kid":kid}.
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

	var hbuf [maxHeader]byte
	header := append(hbuf[:0], `{"alg":"EdDSA","kid":`...)
	header = appendString(header, kid)
	header = append(header, '}')
	var pbuf [stackBuf]byte
	payload := appendClaims(pbuf[:0], c)

	hl, pl := b64.EncodedLen(len(header)), b64.EncodedLen(len(payload))
	signed := hl + 1 + pl
	size := signed + 1 + b64.EncodedLen(ed25519.SignatureSize)
	if size > MaxSize {
		return "", &SizeError{Size: size}
	}
	out := make([]byte, size)
	b64.Encode(out, header)
	out[hl] = '.'
	b64.Encode(out[hl+1:], payload)
	out[signed] = '.'
	b64.Encode(out[signed+1:], ed25519.Sign(priv, out[:signed]))
	return string(out), nil
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

func appendClaims(b []byte, c *Claims) []byte {
	b = append(b, `{"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	if c.ExpiresAt != 0 {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, c.ExpiresAt, 10)
	}
	b = append(b, `,"sub":`...)
	b = appendString(b, c.Subject)
	b = append(b, `,"jti":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"aud":`...)
	b = appendString(b, c.Audience)
	b = append(b, `,"topicAcl":`...)
	b = appendList(b, c.TopicACL)
	if c.PublishACL != nil {
		b = append(b, `,"publishAcl":`...)
		b = appendList(b, c.PublishACL)
	}
	if c.SubscribeACL != nil {
		b = append(b, `,"subscribeAcl":`...)
		b = appendList(b, c.SubscribeACL)
	}
	return append(b, '}')
}

func appendList(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
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
