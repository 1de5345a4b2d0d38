package token

import "strings"

// splitToken checks tok's size and splits it into its three segments.
func splitToken(tok string) (hseg, pseg, sseg string, err error) {
	if len(tok) > MaxSize {
		return "", "", "", errTooLarge
	}
	d1 := strings.IndexByte(tok, '.')
	if d1 < 0 {
		return "", "", "", errSegments
	}
	d2 := strings.IndexByte(tok[d1+1:], '.')
	if d2 < 0 {
		return "", "", "", errSegments
	}
	d2 += d1 + 1
	if strings.IndexByte(tok[d2+1:], '.') >= 0 {
		return "", "", "", errSegments
	}
	return tok[:d1], tok[d1+1 : d2], tok[d2+1:], nil
}

// header is what we read of a JWS header: the spans of alg, kid and typ
// in its scanner's bytes.
type header struct {
	s                         scanner
	alg, kid, typ             span
	haveAlg, haveKID, haveTyp bool
}

// readHeader decodes the base64url header segment hseg into buf and reads
// it: a JSON object with alg, kid and typ at most once each, no crit (RFC
// 7515 §4.1.11: its extensions must be understood, and we understand
// none), anything else skipped. An alg that is not a string is algErr. A
// typ that is not a string is typErr; with a nil typErr, typ is skipped
// like any other member (the Ed25519 tokens never look at it).
func readHeader(buf *[maxHeader]byte, hseg string, algErr, typErr error) (header, error) {
	n := decodedLen(len(hseg))
	switch {
	case n < 0 || !decodeSegment(nil, hseg):
		return header{}, errBase64
	case n > maxHeader:
		return header{}, errHeader
	}
	decodeSegment(buf[:n], hseg)
	h := header{s: scanner{b: buf[:n]}}
	s := &h.s
	if !s.consume('{') {
		return header{}, errHeader
	}
	for more := !s.consume('}'); more; {
		k, ok := s.str()
		if !ok || !s.consume(':') {
			return header{}, errHeader
		}
		switch {
		case s.equal(k, "alg"):
			if h.haveAlg {
				return header{}, errHeader
			}
			h.haveAlg = true
			if h.alg, ok = s.str(); !ok {
				return header{}, algErr
			}
		case s.equal(k, "kid"):
			if h.haveKID {
				return header{}, errHeader
			}
			h.haveKID = true
			if h.kid, ok = s.str(); !ok {
				return header{}, errHeader
			}
		case s.equal(k, "typ") && typErr != nil:
			if h.haveTyp {
				return header{}, errHeader
			}
			h.haveTyp = true
			if s.next() != '"' {
				return header{}, typErr
			}
			if h.typ, ok = s.str(); !ok {
				return header{}, errHeader
			}
		case s.equal(k, "crit"):
			return header{}, errCrit
		default:
			if !s.value(0) {
				return header{}, errHeader
			}
		}
		switch {
		case s.consume(','):
		case s.consume('}'):
			more = false
		default:
			return header{}, errHeader
		}
	}
	if !s.atEnd() {
		return header{}, errHeader
	}
	return h, nil
}

// algIs reports whether the header names algorithm alg.
func (h *header) algIs(alg string) bool { return h.haveAlg && h.s.equal(h.alg, alg) }

// keyID unescapes the header's kid into dst: errNoKID without one,
// errUnknownKID for one longer than any key id we issue.
func (h *header) keyID(dst []byte) ([]byte, error) {
	if !h.haveKID || h.kid.end == h.kid.start {
		return nil, errNoKID
	}
	k, ok := unescape(dst, h.s.b[h.kid.start:h.kid.end], maxKID)
	if !ok || len(k) > maxKID {
		return nil, errUnknownKID
	}
	return k, nil
}
