package onpublish

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// DefaultTolerance is how far a request's timestamp may be from the
// receiver's clock in Verify: older requests are replays.
const DefaultTolerance = 5 * time.Minute

// Verification errors.
var (
	ErrNoSignature = errors.New("onpublish: the request has no X-Signature-Ed25519, X-Signature-Timestamp or X-Signature-Key-Id header")
	ErrUnknownKey  = errors.New("onpublish: X-Signature-Key-Id names no key of the broker's JWKS")
	ErrStale       = errors.New("onpublish: X-Signature-Timestamp is too far from now")
	ErrSignature   = errors.New("onpublish: the signature does not verify")
)

// Verify checks a hook request as a receiver does: the key its
// X-Signature-Key-Id names in keys (the broker's JWKS, by kid), the
// timestamp within tolerance of now, and the signature over the
// timestamp and body.
func Verify(h http.Header, body []byte, keys map[string]ed25519.PublicKey, now time.Time, tolerance time.Duration) error {
	sig, tsText, kid := h.Get(HeaderSignature), h.Get(HeaderTimestamp), h.Get(HeaderKeyID)
	if sig == "" || tsText == "" || kid == "" {
		return ErrNoSignature
	}
	pub, ok := keys[kid]
	if !ok {
		return ErrUnknownKey
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrStale
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return ErrSignature
	}
	msg := append([]byte(tsText), body...)
	if !ed25519.Verify(pub, msg, raw) {
		return ErrSignature
	}
	return nil
}
