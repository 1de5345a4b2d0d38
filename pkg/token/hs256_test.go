package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"
)

// fastlyKey is a key as fastly's /admin/keys makes them: 40 hex
// characters, used as ASCII bytes, and an 8-hex id.
const (
	fastlyKID   = "1a2b3c4d"
	fastlyValue = "0123456789abcdef0123456789abcdef01234567"
)

func fastlyKeys() HMACKeys { return HMACKeys{fastlyKID: []byte(fastlyValue)} }

// signHS256 signs header and payload with HMAC-SHA256 under secret.
func signHS256(secret, header, payload string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// pyjwtHeader is the header PyJWT 2.x writes for headers={"kid": ...}.
const pyjwtHeader = `{"alg":"HS256","kid":"` + fastlyKID + `","typ":"JWT"}`

func TestVerifyHS256(t *testing.T) {
	good := `{"exp":1700003600,"x-fastly-read":["topic1","topic2"],"x-fastly-write":["topic1"]}`
	tests := []struct {
		name        string
		tok         string
		reason      Reason // "" means accepted
		read, write []string
		jti         string
		exp, iat    int64
		leeway      time.Duration
	}{
		{name: "OK", tok: signHS256(fastlyValue, pyjwtHeader, good), read: []string{"topic1", "topic2"}, write: []string{"topic1"}, exp: 1700003600},
		{name: "OK/NoTyp", tok: signHS256(fastlyValue, `{"kid":"1a2b3c4d","alg":"HS256"}`, `{}`)},
		{name: "OK/TypCase", tok: signHS256(fastlyValue, `{"alg":"HS256","typ":"jwt","kid":"1a2b3c4d"}`, `{}`)},
		{name: "OK/TypPlusJWT", tok: signHS256(fastlyValue, `{"alg":"HS256","typ":"application/at+jwt","kid":"1a2b3c4d"}`, `{}`)},
		{name: "OK/JTIAndOtherClaims", tok: signHS256(fastlyValue, pyjwtHeader, `{"iss":"me","aud":["x"],"sub":7,"jti":"j-1","iat":1700000000}`), jti: "j-1", iat: 1700000000},
		{name: "OK/ExpiredWithinLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"exp":1699999200}`), exp: 1699999200, leeway: FastlyLeeway},
		{name: "OK/IatAheadWithinLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"iat":1700000800}`), iat: 1700000800, leeway: FastlyLeeway},
		{name: "ErrExpiredBeyondLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"exp":1699999000}`), reason: ReasonExpired, leeway: FastlyLeeway},
		{name: "ErrNotBeforeBeyondLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"nbf":1700001000}`), reason: ReasonNotYetValid, leeway: FastlyLeeway},
		{name: "ErrIatAheadBeyondLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"iat":1700001000}`), reason: ReasonNotYetValid, leeway: FastlyLeeway},
		{name: "ErrExpiredNoLeeway", tok: signHS256(fastlyValue, pyjwtHeader, `{"exp":1700000000}`), reason: ReasonExpired},
		{name: "ErrAlgNone", tok: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"1a2b3c4d"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(good)) + ".", reason: ReasonAlgorithm},
		{name: "ErrAlgRS256", tok: signHS256(fastlyValue, `{"alg":"RS256","kid":"1a2b3c4d"}`, good), reason: ReasonAlgorithm},
		{name: "ErrAlgHS512", tok: signHS256(fastlyValue, `{"alg":"HS512","kid":"1a2b3c4d"}`, good), reason: ReasonAlgorithm},
		{name: "ErrAlgEdDSA", tok: signHS256(fastlyValue, `{"alg":"EdDSA","kid":"1a2b3c4d"}`, good), reason: ReasonAlgorithm},
		{name: "ErrNoAlg", tok: signHS256(fastlyValue, `{"kid":"1a2b3c4d"}`, good), reason: ReasonAlgorithm},
		{name: "ErrNoKID", tok: signHS256(fastlyValue, `{"alg":"HS256","typ":"JWT"}`, good), reason: ReasonUnknownKey},
		{name: "ErrEmptyKID", tok: signHS256(fastlyValue, `{"alg":"HS256","kid":""}`, good), reason: ReasonUnknownKey},
		{name: "ErrUnknownKID", tok: signHS256(fastlyValue, `{"alg":"HS256","kid":"deadbeef"}`, good), reason: ReasonUnknownKey},
		{name: "ErrNumericKID", tok: signHS256(fastlyValue, `{"alg":"HS256","kid":12}`, good), reason: ReasonMalformed},
		{name: "ErrTyp", tok: signHS256(fastlyValue, `{"alg":"HS256","kid":"1a2b3c4d","typ":"JOSE"}`, good), reason: ReasonMalformed},
		{name: "ErrCrit", tok: signHS256(fastlyValue, `{"alg":"HS256","kid":"1a2b3c4d","crit":["x"]}`, good), reason: ReasonMalformed},
		{name: "ErrWrongSecret", tok: signHS256("another secret", pyjwtHeader, good), reason: ReasonSignature},
		{name: "ErrHexDecodedSecret", tok: signHS256(string(mustHex(fastlyValue)), pyjwtHeader, good), reason: ReasonSignature},
		{name: "ErrReadNotArray", tok: signHS256(fastlyValue, pyjwtHeader, `{"x-fastly-read":"topic1"}`), reason: ReasonClaims},
		{name: "ErrWriteNull", tok: signHS256(fastlyValue, pyjwtHeader, `{"x-fastly-write":null}`), reason: ReasonClaims},
		{name: "ErrReadNumbers", tok: signHS256(fastlyValue, pyjwtHeader, `{"x-fastly-read":[1]}`), reason: ReasonClaims},
		{name: "ErrDuplicateClaim", tok: signHS256(fastlyValue, pyjwtHeader, `{"x-fastly-read":[],"x-fastly-read":["a"]}`), reason: ReasonClaims},
		{name: "ErrJTINotString", tok: signHS256(fastlyValue, pyjwtHeader, `{"jti":5}`), reason: ReasonClaims},
		{name: "ErrExpFloat", tok: signHS256(fastlyValue, pyjwtHeader, `{"exp":1700003600.5}`), reason: ReasonClaims},
		{name: "ErrClaimsNotObject", tok: signHS256(fastlyValue, pyjwtHeader, `[]`), reason: ReasonClaims},
		{name: "ErrTwoSegments", tok: "a.b", reason: ReasonMalformed},
		{name: "ErrTruncatedSignature", tok: signHS256(fastlyValue, pyjwtHeader, good)[:60], reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := VerifyHS256(tt.tok, fastlyKeys(), testNow, tt.leeway)
			if tt.reason != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err = %v, want an *Error with reason %q", err, tt.reason)
				}
				if e.Reason != tt.reason {
					t.Fatalf("reason = %q (%s), want %q", e.Reason, e.Message, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyHS256: %v", err)
			}
			if got, want := c.KeyID, fastlyKID; got != want {
				t.Errorf("KeyID = %q, want %q", got, want)
			}
			if !slices.Equal(c.Read, tt.read) || !slices.Equal(c.Write, tt.write) {
				t.Errorf("read, write = %q, %q; want %q, %q", c.Read, c.Write, tt.read, tt.write)
			}
			if c.ID != tt.jti || c.ExpiresAt != tt.exp || c.IssuedAt != tt.iat {
				t.Errorf("jti, exp, iat = %q, %d, %d; want %q, %d, %d", c.ID, c.ExpiresAt, c.IssuedAt, tt.jti, tt.exp, tt.iat)
			}
		})
	}
}

// TestVerifyHS256PyJWT verifies a token PyJWT 2.6 minted with fastly's
// README example (exp fixed for the test), byte for byte as PyJWT wrote it.
func TestVerifyHS256PyJWT(t *testing.T) {
	// python3 -c 'import jwt; print(jwt.encode({"exp": 1700003600,
	//   "x-fastly-read": ["topic1","topic2"], "x-fastly-write": ["topic1","topic2"]},
	//   "0123456789abcdef0123456789abcdef01234567", headers={"kid":"1a2b3c4d"}))'
	const tok = pyjwtToken
	c, err := VerifyHS256(tok, fastlyKeys(), testNow, FastlyLeeway)
	if err != nil {
		t.Fatalf("VerifyHS256: %v", err)
	}
	if want := []string{"topic1", "topic2"}; !slices.Equal(c.Read, want) || !slices.Equal(c.Write, want) {
		t.Errorf("read, write = %q, %q; want %q for both", c.Read, c.Write, want)
	}
}

func mustHex(s string) []byte {
	out := make([]byte, len(s)/2)
	for i := range out {
		out[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return out
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}

// FuzzVerifyHS256 feeds arbitrary tokens to VerifyHS256, which must not
// panic and must explain every refusal with a complete *Error.
func FuzzVerifyHS256(f *testing.F) {
	f.Add(pyjwtToken)
	f.Add(signHS256(fastlyValue, pyjwtHeader, `{"jti":"a\u00e9","x-fastly-read":["a\/b"]}`))
	f.Add(signHS256(fastlyValue, `{"alg":"HS256","kid":"1a2b3c4d","typ":"x+jwt"}`, `{"nbf":1,"iat":2}`))
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := VerifyHS256(tok, fastlyKeys(), testNow, FastlyLeeway)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || e.Message == "" {
				t.Fatalf("err = %#v, want a complete *Error", err)
			}
			return
		}
		if c.KeyID != fastlyKID {
			t.Fatalf("accepted a token with kid %q", c.KeyID)
		}
	})
}

// pyjwtToken is the output of the command in TestVerifyHS256PyJWT.
const pyjwtToken = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjFhMmIzYzRkIiwidHlwIjoiSldUIn0.eyJleHAiOjE3MDAwMDM2MDAsIngtZmFzdGx5LXJlYWQiOlsidG9waWMxIiwidG9waWMyIl0sIngtZmFzdGx5LXdyaXRlIjpbInRvcGljMSIsInRvcGljMiJdfQ.qZDE4z9j5PI2thmag24DhCPvd1WjaNTXpAck0LcuoN8"
