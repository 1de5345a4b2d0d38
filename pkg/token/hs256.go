package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"time"
)

// Self-signed tokens are fastly/pubsub's format, which a broker accepts
// beside its own when its operator enables them: an HS256 JWT that the
// customer mints with a shared secret from `POST /admin/keys` (or the
// control plane's signingkeys API), with the header
// {"alg":"HS256","kid":"<key id>"} (typ JWT or absent) and the claims
// x-fastly-read and x-fastly-write, arrays of topics. It has no aud, sub
// or required jti: the key id alone names the broker.

// FastlyLeeway is fastly/pubsub's clock tolerance on exp, nbf and iat.
const FastlyLeeway = 900 * time.Second

// HMACKeys maps a key id to the shared secret of an HS256 signing key: a
// fastly key's 40 hex characters, used as ASCII bytes as fastly does.
// Build it once per configuration change and share it read-only.
type HMACKeys map[string][]byte

// SelfSigned are the claims of a verified self-signed token.
type SelfSigned struct {
	KeyID     string   // the header's kid
	ID        string   // jti; "" when absent
	IssuedAt  int64    // iat, Unix seconds; 0 when absent
	ExpiresAt int64    // exp, Unix seconds; 0 when absent (never expires)
	Read      []string // x-fastly-read; empty when absent
	Write     []string // x-fastly-write; empty when absent
}

// The refusals of self-signed tokens that differ from ours.
var (
	errHSAlgorithm = &Error{ReasonAlgorithm, "token algorithm must be HS256"}
	errHSSigLength = &Error{ReasonMalformed, "token signature is not 32 bytes"}
	errHSType      = &Error{ReasonMalformed, "token header typ must be JWT"}
	errHSJTI       = &Error{ReasonClaims, "token claim jti must be a string"}
	errFastlyACL   = &Error{ReasonClaims, "token claims x-fastly-read and x-fastly-write must be arrays of strings"}
)

// VerifyHS256 checks a self-signed token: alg HS256, a kid in keys, typ
// JWT (any case, or a media type ending in +JWT) or absent, no crit, an
// HMAC-SHA256 signature compared in constant time, then exp not before
// now-leeway, and nbf and iat not after now+leeway, as fastly/pubsub
// does with its 900 s (FastlyLeeway). x-fastly-read and x-fastly-write,
// when present, must be arrays of strings; they are returned as they
// are, topic names for exact matching (the caller may read them as MQTT
// filters). Errors are *Error values that never repeat the token.
func VerifyHS256(tok string, keys HMACKeys, now time.Time, leeway time.Duration) (*SelfSigned, error) {
	hseg, pseg, sseg, err := splitToken(tok)
	if err != nil {
		return nil, err
	}
	var h selfSignedHeader
	if err := h.parse(hseg); err != nil {
		return nil, err
	}
	secret, ok := keys[h.kid()]
	if !ok || len(secret) == 0 {
		return nil, errUnknownKID
	}
	signed := tok[:len(hseg)+1+len(pseg)]
	switch n := decodedLen(len(sseg)); {
	case n < 0 || !decodeSegment(nil, sseg):
		return nil, errBase64
	case n != sha256.Size:
		return nil, errHSSigLength
	}
	var sig [sha256.Size]byte
	decodeSegment(sig[:], sseg)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signed))
	var want [sha256.Size]byte
	if !hmac.Equal(mac.Sum(want[:0]), sig[:]) {
		return nil, errSignature
	}

	if decodedLen(len(pseg)) < 0 || !decodeSegment(nil, pseg) {
		return nil, errBase64
	}
	var buf [stackBuf]byte
	raw, err := decodePayload(buf[:0], pseg)
	if err != nil {
		return nil, err
	}
	c, err := parseSelfSigned(raw)
	if err != nil {
		return nil, err
	}
	if c.ExpiresAt > 0 && !now.Before(time.Unix(c.ExpiresAt, 0).Add(leeway)) {
		return nil, errExpired
	}
	late := now.Add(leeway)
	if c.IssuedAt > 0 && time.Unix(c.IssuedAt, 0).After(late) {
		return nil, errNotYetValid
	}
	if c.nbf > 0 && time.Unix(c.nbf, 0).After(late) {
		return nil, errNotYetValid
	}
	c.KeyID = h.kid()
	return &c.SelfSigned, nil
}

// selfSignedHeader is a parsed HS256 header.
type selfSignedHeader struct {
	kidBuf [maxKID]byte
	kidLen int
}

func (h *selfSignedHeader) kid() string { return string(h.kidBuf[:h.kidLen]) }

// parse reads the base64url header segment hseg: alg HS256, a kid, and
// a typ, if any, of JWT or a media type ending in +JWT.
func (h *selfSignedHeader) parse(hseg string) error {
	var buf [maxHeader]byte
	hd, err := readHeader(&buf, hseg, errHSAlgorithm, errHSType)
	if err != nil {
		return err
	}
	if !hd.algIs("HS256") {
		return errHSAlgorithm
	}
	if hd.haveTyp {
		t, ok := unescape(nil, hd.s.b[hd.typ.start:hd.typ.end], maxHeader)
		if !ok || !(strings.EqualFold(string(t), "JWT") || len(t) > 4 && strings.EqualFold(string(t[len(t)-4:]), "+JWT")) {
			return errHSType
		}
	}
	k, err := hd.keyID(h.kidBuf[:0])
	if err != nil {
		return err
	}
	h.kidLen = len(k)
	return nil
}

// selfSignedClaims are SelfSigned plus what is only checked.
type selfSignedClaims struct {
	SelfSigned
	nbf int64
}

// parseSelfSigned reads the claims we use and skips the others (iss,
// aud, sub: fastly checks none of them), refusing duplicates.
func parseSelfSigned(b []byte) (*selfSignedClaims, error) {
	var c selfSignedClaims
	s := scanner{b: b}
	var seen uint8
	if !s.consume('{') {
		return nil, errClaimsJSON
	}
	for more := !s.consume('}'); more; {
		k, ok := s.str()
		if !ok || !s.consume(':') {
			return nil, errClaimsJSON
		}
		var bit uint8
		var err error
		switch {
		case s.equal(k, "exp"):
			bit = 1
			c.ExpiresAt, err = s.numericDate(errEXP)
		case s.equal(k, "nbf"):
			bit = 2
			c.nbf, err = s.numericDate(errNBF)
		case s.equal(k, "iat"):
			bit = 4
			c.IssuedAt, err = s.numericDate(errIAT)
		case s.equal(k, "jti"):
			bit = 8
			if s.next() != '"' {
				return nil, errHSJTI
			}
			var sp span
			if sp, ok = s.str(); !ok {
				return nil, errClaimsJSON
			}
			c.ID = stringOf(s.b, sp)
		case s.equal(k, "x-fastly-read"):
			bit = 16
			c.Read, err = s.stringArray()
		case s.equal(k, "x-fastly-write"):
			bit = 32
			c.Write, err = s.stringArray()
		default:
			if !s.value(0) {
				err = errClaimsJSON
			}
		}
		if err != nil {
			return nil, err
		}
		if seen&bit != 0 {
			return nil, errClaimsDup
		}
		seen |= bit
		switch {
		case s.consume(','):
		case s.consume('}'):
			more = false
		default:
			return nil, errClaimsJSON
		}
	}
	if !s.atEnd() {
		return nil, errClaimsJSON
	}
	return &c, nil
}

// stringArray reads an array of strings; null or any other value is
// refused, as fastly's deserializer does.
func (s *scanner) stringArray() ([]string, error) {
	if !s.consume('[') {
		return nil, errFastlyACL
	}
	var out []string
	for more := !s.consume(']'); more; {
		if s.next() != '"' {
			return nil, errFastlyACL
		}
		sp, ok := s.str()
		if !ok {
			return nil, errClaimsJSON
		}
		out = append(out, stringOf(s.b, sp))
		switch {
		case s.consume(','):
		case s.consume(']'):
			more = false
		default:
			return nil, errClaimsJSON
		}
	}
	return out, nil
}

// stringOf returns the string sp of b, unescaped.
func stringOf(b []byte, sp span) string {
	if !sp.esc {
		return string(b[sp.start:sp.end])
	}
	u, _ := unescape(make([]byte, 0, sp.end-sp.start), b[sp.start:sp.end], sp.end-sp.start)
	return string(u)
}
