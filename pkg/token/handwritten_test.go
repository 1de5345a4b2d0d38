package token

import (
	"crypto/ed25519"
	"strconv"
)

// The hand-written claims writer that Sign used before it moved to
// golang-jwt. It stays here as the baseline of the signing benchmarks and
// as the reference that golang-jwt's tokens are compared with byte for
// byte (TestSignMatchesHandwritten).

// signHandwritten is the former Sign after its checks: header and claims
// written by hand, then signed.
func signHandwritten(priv ed25519.PrivateKey, kid string, c *Claims) string {
	var hbuf [maxHeader]byte
	header := append(hbuf[:0], `{"alg":"EdDSA","kid":`...)
	header = appendString(header, kid)
	header = append(header, '}')
	var pbuf [stackBuf]byte
	payload := appendClaims(pbuf[:0], c)

	hl, pl := b64.EncodedLen(len(header)), b64.EncodedLen(len(payload))
	signed := hl + 1 + pl
	out := make([]byte, signed+1+sigLen)
	b64.Encode(out, header)
	out[hl] = '.'
	b64.Encode(out[hl+1:], payload)
	out[signed] = '.'
	b64.Encode(out[signed+1:], ed25519.Sign(priv, out[:signed]))
	return string(out)
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

// appendString appends s as a JSON string. s must be valid UTF-8. Only what
// RFC 8259 requires is escaped, so the output stays short.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
