package token

import (
	"crypto/ed25519"
	"time"

	"github.com/openpubsub/pubsub/pkg/topic"
)

const (
	// maxHeader bounds the decoded header; ours is about 70 bytes.
	maxHeader = 512
	// maxKID bounds the key id; a SHA-256 thumbprint is 43 characters.
	maxKID = 128
	// stackBuf sizes the buffers that keep a typical token off the heap.
	stackBuf = 1024
	// maxNumericDate is 9999-12-31T23:59:59Z. Larger times are not ours,
	// and refusing them keeps time arithmetic far from overflow.
	maxNumericDate = 253402300799
)

// Unverified is a token that is well formed and claims alg EdDSA, but
// whose signature and claims have not been checked. Parse it once when its
// audience picks the key set (a connection without TLS SNI), then call
// Verify.
type Unverified struct {
	signed  string // header.payload as received: what the signature covers
	payload string // the payload segment, still base64url
	sig     [ed25519.SignatureSize]byte
	kid     [maxKID]byte
	kidLen  int
}

// Parse checks the structure of tok (size, three base64url segments, a
// 64-byte signature) and its header (alg EdDSA, a kid, no crit). The
// returned error is an *Error with ReasonMalformed, ReasonAlgorithm or
// ReasonUnknownKey.
func Parse(tok string) (*Unverified, error) {
	u := new(Unverified)
	if err := u.parse(tok); err != nil {
		return nil, err
	}
	return u, nil
}

// Verify checks tok: header alg EdDSA, a kid present in keys, a valid
// signature, aud == audience, and exp (when present) not before now-leeway.
// It returns the claims, or an *Error telling which check failed.
//
// As RFC 7519 says, a token expires at exp: with leeway 0 it is refused
// from that second on. audience is compared byte for byte, so mint and
// verify with lowercase hostnames.
//
// It also requires non-empty sub and jti, iat no later than now+leeway,
// nbf (when present) no later than now+leeway, and topicAcl, publishAcl
// and subscribeAcl to be arrays of valid, non-shared topic filters, with
// topicAcl present. An empty publishAcl or subscribeAcl is returned as a
// non-nil empty slice: it allows nothing. The returned claims are the
// caller's.
func Verify(tok string, keys KeySet, audience string, now time.Time, leeway time.Duration) (*Claims, error) {
	var u Unverified
	if err := u.parse(tok); err != nil {
		return nil, err
	}
	return u.Verify(keys, audience, now, leeway)
}

// PeekAudience returns the aud claim of tok WITHOUT verifying it; it is only
// for routing a connection that sent no TLS SNI. Verification follows.
// It fails, with an *Error, for what Parse refuses and for claims that are
// not a JSON object or hold no aud.
func PeekAudience(tok string) (string, error) {
	var u Unverified
	if err := u.parse(tok); err != nil {
		return "", err
	}
	return u.Audience()
}

// KeyID returns the kid of the token's header.
func (u *Unverified) KeyID() string { return string(u.kid[:u.kidLen]) }

// Audience returns the unverified aud claim, as PeekAudience does.
func (u *Unverified) Audience() (string, error) {
	var buf [stackBuf]byte
	raw, err := decodePayload(buf[:0], u.payload)
	if err != nil {
		return "", err
	}
	var rc rawClaims
	var ebuf [16]span
	if _, err := rc.parse(raw, ebuf[:0]); err != nil {
		return "", err
	}
	if rc.seen&seenAud == 0 {
		return "", errAudMissing
	}
	return rc.str(raw, "", rc.aud), nil
}

// Verify finishes what Parse began; see the package function Verify.
func (u *Unverified) Verify(keys KeySet, audience string, now time.Time, leeway time.Duration) (*Claims, error) {
	pub, ok := u.key(keys)
	if !ok || len(pub) != ed25519.PublicKeySize {
		// A key of the wrong length would make ed25519.Verify panic.
		return nil, errUnknownKID
	}
	// One stack buffer serves the signing input, then the claims.
	var buf [stackBuf]byte
	if !ed25519.Verify(pub, append(buf[:0], u.signed...), u.sig[:]) {
		return nil, errSignature
	}

	// From here on the payload is ours; parse errors mean a minting bug.
	raw, err := decodePayload(buf[:0], u.payload)
	if err != nil {
		return nil, err
	}
	var rc rawClaims
	var ebuf [16]span
	entries, err := rc.parse(raw, ebuf[:0])
	if err != nil {
		return nil, err
	}
	if err := rc.check(raw, audience, now, leeway); err != nil {
		return nil, err
	}
	return rc.claims(raw, entries)
}

func (u *Unverified) key(keys KeySet) (ed25519.PublicKey, bool) {
	kid := u.kid[:u.kidLen]
	switch ks := keys.(type) {
	case nil:
		return nil, false
	case Keys:
		// Indexing with string(kid) does not allocate; calling Key would.
		pub, ok := ks[string(kid)]
		return pub, ok
	default:
		return ks.Key(string(kid))
	}
}

func (u *Unverified) parse(tok string) error {
	hseg, pseg, sseg, err := splitToken(tok)
	if err != nil {
		return err
	}
	var hbuf [maxHeader]byte
	h, err := readHeader(&hbuf, hseg, errAlgorithm, nil)
	if err != nil {
		return err
	}
	if !h.algIs("EdDSA") {
		return errAlgorithm
	}
	k, err := h.keyID(u.kid[:0])
	if err != nil {
		return err
	}
	u.kidLen = len(k)

	if decodedLen(len(pseg)) < 0 || !decodeSegment(nil, pseg) {
		return errBase64
	}
	switch n := decodedLen(len(sseg)); {
	case n < 0 || !decodeSegment(nil, sseg):
		return errBase64
	case n != ed25519.SignatureSize:
		return errSigLength
	}
	decodeSegment(u.sig[:], sseg)
	u.signed, u.payload = tok[:len(hseg)+1+len(pseg)], pseg
	return nil
}

// decodePayload decodes a payload segment that parse has checked, into
// dst's spare capacity when it fits.
func decodePayload(dst []byte, seg string) ([]byte, error) {
	n := decodedLen(len(seg))
	if n < 0 {
		return nil, errBase64
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	if !decodeSegment(dst, seg) {
		return nil, errBase64
	}
	return dst, nil
}

// Bits of rawClaims.seen, one per claim we read, to refuse duplicates.
const (
	seenIat = 1 << iota
	seenExp
	seenNbf
	seenSub
	seenJti
	seenAud
	seenTopicACL
	seenPublishACL
	seenSubscribeACL
)

// aclRange locates one ACL claim's entries in the entries slice.
type aclRange struct{ from, to int }

// rawClaims are claims as byte ranges of the decoded payload, so that
// checking them allocates nothing and building them allocates once.
type rawClaims struct {
	seen          uint16
	iat, exp, nbf int64
	sub, jti, aud span
	acl           [3]aclRange // topicAcl, publishAcl, subscribeAcl
}

var aclBits = [3]uint16{seenTopicACL, seenPublishACL, seenSubscribeACL}

// parse reads the claims object in b, appending ACL entries to entries.
func (rc *rawClaims) parse(b []byte, entries []span) ([]span, error) {
	s := scanner{b: b}
	if !s.consume('{') {
		return nil, errClaimsJSON
	}
	for more := !s.consume('}'); more; {
		k, ok := s.str()
		if !ok || !s.consume(':') {
			return nil, errClaimsJSON
		}
		var bit uint16
		var err error
		switch {
		case s.equal(k, "iat"):
			bit = seenIat
			rc.iat, err = s.numericDate(errIAT)
		case s.equal(k, "exp"):
			bit = seenExp
			rc.exp, err = s.numericDate(errEXP)
		case s.equal(k, "nbf"):
			bit = seenNbf
			rc.nbf, err = s.numericDate(errNBF)
		case s.equal(k, "sub"):
			bit = seenSub
			rc.sub, err = s.nonEmpty(errSub)
		case s.equal(k, "jti"):
			bit = seenJti
			rc.jti, err = s.nonEmpty(errJTI)
		case s.equal(k, "aud"):
			bit = seenAud
			rc.aud, err = s.audience()
		case s.equal(k, "topicAcl"):
			bit = seenTopicACL
			entries, err = s.acl(entries, &rc.acl[0])
		case s.equal(k, "publishAcl"):
			bit = seenPublishACL
			entries, err = s.acl(entries, &rc.acl[1])
		case s.equal(k, "subscribeAcl"):
			bit = seenSubscribeACL
			entries, err = s.acl(entries, &rc.acl[2])
		default:
			if !s.value(0) {
				err = errClaimsJSON
			}
		}
		if err != nil {
			return nil, err
		}
		if rc.seen&bit != 0 {
			return nil, errClaimsDup
		}
		rc.seen |= bit
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
	return entries, nil
}

func (s *scanner) numericDate(typeErr *Error) (int64, error) {
	n, ok := s.integer(maxNumericDate)
	if !ok {
		return 0, typeErr
	}
	return n, nil
}

func (s *scanner) nonEmpty(typeErr *Error) (span, error) {
	if s.next() != '"' {
		return span{}, typeErr
	}
	sp, ok := s.str()
	if !ok {
		return span{}, errClaimsJSON
	}
	if sp.start == sp.end {
		return span{}, typeErr
	}
	return sp, nil
}

// audience reads aud, which RFC 7519 lets be a string or an array; we
// take an array only when it names one audience, as some libraries write.
func (s *scanner) audience() (span, error) {
	array := s.consume('[')
	if s.next() != '"' {
		return span{}, errAudType
	}
	sp, ok := s.str()
	if !ok {
		return span{}, errClaimsJSON
	}
	if array && !s.consume(']') {
		return span{}, errAudType
	}
	return sp, nil
}

func (s *scanner) acl(entries []span, r *aclRange) ([]span, error) {
	if !s.consume('[') {
		return nil, errACLType
	}
	r.from = len(entries)
	for more := !s.consume(']'); more; {
		if s.next() != '"' {
			return nil, errACLType
		}
		sp, ok := s.str()
		if !ok {
			return nil, errClaimsJSON
		}
		entries = append(entries, sp)
		switch {
		case s.consume(','):
		case s.consume(']'):
			more = false
		default:
			return nil, errClaimsJSON
		}
	}
	r.to = len(entries)
	return entries, nil
}

// check applies the rules that need no allocation, so that a refused
// token costs none.
func (rc *rawClaims) check(raw []byte, audience string, now time.Time, leeway time.Duration) error {
	switch {
	case rc.seen&seenSub == 0:
		return errSub
	case rc.seen&seenJti == 0:
		return errJTI
	case rc.seen&seenIat == 0:
		return errIAT
	case rc.seen&seenTopicACL == 0:
		return errACLMissing
	case rc.seen&seenAud == 0:
		return errAudMissing
	}
	s := scanner{b: raw}
	if audience == "" || !s.equalValue(rc.aud, audience) {
		return errAudience
	}
	if rc.seen&seenExp != 0 && !now.Before(time.Unix(rc.exp, 0).Add(leeway)) {
		return errExpired
	}
	late := now.Add(leeway)
	if time.Unix(rc.iat, 0).After(late) {
		return errNotYetValid
	}
	if rc.seen&seenNbf != 0 && time.Unix(rc.nbf, 0).After(late) {
		return errNotYetValid
	}
	return nil
}

// equalValue is equal without its length limit, for values rather than
// keys; an escaped value is compared after unescaping into a heap buffer.
func (s *scanner) equalValue(sp span, want string) bool {
	raw := s.b[sp.start:sp.end]
	if !sp.esc {
		return string(raw) == want
	}
	got, _ := unescape(nil, raw, len(raw))
	return string(got) == want
}

// str returns the string sp of raw, as a substring of payload when it has
// no escapes and payload is not empty.
func (rc *rawClaims) str(raw []byte, payload string, sp span) string {
	if sp.esc {
		b, _ := unescape(make([]byte, 0, sp.end-sp.start), raw[sp.start:sp.end], sp.end-sp.start)
		return string(b)
	}
	if payload == "" {
		return string(raw[sp.start:sp.end])
	}
	return payload[sp.start:sp.end]
}

// claims builds the Claims: one string holds the payload, and the claims
// point into it, so the count of allocations does not grow with the ACLs.
func (rc *rawClaims) claims(raw []byte, entries []span) (*Claims, error) {
	payload := string(raw)
	c := &Claims{
		Subject:   rc.str(raw, payload, rc.sub),
		ID:        rc.str(raw, payload, rc.jti),
		Audience:  rc.str(raw, payload, rc.aud),
		IssuedAt:  rc.iat,
		ExpiresAt: rc.exp,
	}
	all := make([]string, len(entries))
	for i, e := range entries {
		all[i] = rc.str(raw, payload, e)
	}
	lists := [3]*[]string{&c.TopicACL, &c.PublishACL, &c.SubscribeACL}
	for i, r := range rc.acl {
		if rc.seen&aclBits[i] == 0 {
			continue
		}
		*lists[i] = all[r.from:r.to:r.to]
		if topic.ValidateACL(*lists[i]) != nil {
			return nil, errACLFilter
		}
	}
	return c, nil
}
