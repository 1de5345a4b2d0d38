package token

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The nodes verify tokens with Verify, not golang-jwt (docs/decisions.md
// says why). This file holds the evidence: a differential fuzz test (every
// token golang-jwt refuses, Verify refuses too) and the benchmark that
// compares the two.

// jwtLeeway is the clock skew both verifiers allow here.
const jwtLeeway = time.Minute

// golangJWTParser is golang-jwt set up for our format as strictly as it
// goes: EdDSA only, our audience, exp and nbf checked, iat not in the
// future, all with the same leeway and clock as Verify.
var golangJWTParser = jwt.NewParser(
	jwt.WithValidMethods([]string{"EdDSA"}),
	jwt.WithAudience(testAud),
	jwt.WithIssuedAt(),
	jwt.WithLeeway(jwtLeeway),
	jwt.WithTimeFunc(func() time.Time { return testNow }),
)

// golangJWTVerify verifies tok with golang-jwt against keys. Its claims are
// a map, as golang-jwt's default: a struct would match JSON names without
// regard to case, which JOSE names are not.
func golangJWTVerify(tok string, keys Keys) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := golangJWTParser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, ok := t.Header["kid"].(string)
		if !ok {
			return nil, errors.New("no kid")
		}
		k, ok := keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	})
	return claims, err
}

// dupClaims lists, for each claim Verify reads, a payload that names it twice.
func dupClaims() map[string]string {
	return map[string]string{
		"sub":          payload(`"sub":"other",`),
		"jti":          payload(`"jti":"other",`),
		"iat":          payload(`"iat":1700000001,`),
		"exp":          payload(`"exp":1700000001,`),
		"nbf":          payload(`"nbf":1600000000,"nbf":1600000001,`),
		"aud":          payload(`"aud":"other.ns.pubsub.example",`),
		"topicAcl":     payload(`"topicAcl":["a"],`),
		"publishAcl":   payload(`"publishAcl":["a"],"publishAcl":["b"],`),
		"subscribeAcl": payload(`"subscribeAcl":["a"],"subscribeAcl":["b"],`),
	}
}

// TestDuplicateClaims: golang-jwt takes the last of two same-named claims
// (encoding/json's rule); Verify refuses the token, so that no two readers
// of one token can see different claims.
func TestDuplicateClaims(t *testing.T) {
	a := newTestKey("a")
	keys := a.keys()
	for name, p := range dupClaims() {
		t.Run(name, func(t *testing.T) {
			tok := signRaw(a, a.header(), p)
			if _, err := golangJWTVerify(tok, keys); err != nil {
				t.Fatalf("golang-jwt refuses it (%v); the test means to show it accepts", err)
			}
			_, err := Verify(tok, keys, testAud, testNow, jwtLeeway)
			if err != errClaimsDup {
				t.Fatalf("Verify: %v, want %v", err, errClaimsDup)
			}
		})
	}
}

// TestGolangJWTAgreesOnGoodTokens: what Sign makes, both verifiers accept
// and read alike.
func TestGolangJWTAgreesOnGoodTokens(t *testing.T) {
	a := newTestKey("a")
	keys := a.keys()
	c := testClaims()
	c.PublishACL = []string{"up/+"}
	c.SubscribeACL = []string{}
	tok := mustSign(t, a, c)
	mc, err := golangJWTVerify(tok, keys)
	if err != nil {
		t.Fatalf("golang-jwt: %v", err)
	}
	got, err := Verify(tok, keys, testAud, testNow, jwtLeeway)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if mc["sub"] != got.Subject || mc["jti"] != got.ID || mc["aud"] != got.Audience ||
		mc["iat"] != float64(got.IssuedAt) || mc["exp"] != float64(got.ExpiresAt) ||
		fmt.Sprint(mc["publishAcl"]) != fmt.Sprint(got.PublishACL) || fmt.Sprint(mc["subscribeAcl"]) != "[]" {
		t.Fatalf("golang-jwt read %v, Verify %+v", mc, got)
	}
}

// FuzzVerifyAgainstGolangJWT signs arbitrary headers and claims with a
// known key, and also tries raw strings as tokens: whenever golang-jwt
// refuses one, Verify must refuse it too. (The converse does not hold on
// purpose: Verify also refuses duplicate claims, crit headers, non-integer
// times, audience lists, tokens over MaxSize, and more.)
func FuzzVerifyAgainstGolangJWT(f *testing.F) {
	a := newTestKey("a")
	other := newTestKey("b")
	keys := a.keys()
	f.Add(a.header(), payload(""), "")
	f.Add(a.header(), payload(`"publishAcl":["a/+"],"subscribeAcl":[],`), "")
	f.Add(a.header(), `{"iat":1700000000,"sub":"s","jti":"j","aud":["`+testAud+`"],"topicAcl":[]}`, "")
	f.Add(a.header(), `{"iat":1700000000,"sub":"s","jti":"j","aud":"`+testAud+`","topicAcl":[],"exp":1699999900}`, "")
	f.Add(a.header(), `{"iat":1700000100,"sub":"s","jti":"j","aud":"`+testAud+`","topicAcl":[],"nbf":1700000061}`, "")
	f.Add(a.header(), payload(`"exp":null,`), "")
	f.Add(a.header(), payload(`"iat":1.5e9,`), "")
	f.Add(a.header(), payload(`"SUB":5,"iss":7,`), "")
	f.Add(`{"alg":"EdDSA","kid":"`+other.kid+`"}`, payload(""), "")
	f.Add(`{"alg":"EdD\u0053A","kid":"`+a.kid+`","typ":"JWT"}`, payload(`"nbf":1,`), "")
	f.Add(`{"alg":"HS256","kid":"`+a.kid+`"}`, payload(""), "")
	f.Add(`{"alg":"none"}`, `{}`, "eyJhbGciOiJub25lIn0.e30.")
	f.Add(`{"alg":"EdDSA","kid":"`+a.kid+`","crit":["exp"]}`, payload(""), mustSign(f, a, testClaims()))
	for _, p := range dupClaims() {
		f.Add(a.header(), p, "")
	}
	f.Fuzz(func(t *testing.T, header, claims, raw string) {
		for _, tok := range []string{signRaw(a, header, claims), raw} {
			if _, jerr := golangJWTVerify(tok, keys); jerr != nil {
				if c, err := Verify(tok, keys, testAud, testNow, jwtLeeway); err == nil {
					t.Fatalf("golang-jwt refuses %q (%v), Verify accepts it as %+v", tok, jerr, c)
				}
			}
		}
	})
}

// BenchmarkVerifyVsGolangJWT compares Verify with golang-jwt on the node's
// hot path, CONNECT: a good token, a forged one (right shape, wrong
// signature, 8 KiB of claims), and a forged 64 KiB one, which Verify
// refuses by its length and golang-jwt decodes before it checks the
// signature.
func BenchmarkVerifyVsGolangJWT(b *testing.B) {
	a := newTestKey("a")
	keys := a.keys()
	good := mustSign(b, a, testClaims())
	bigACL := make([]string, 0, 512)
	for i := 0; len(strings.Join(bigACL, `","`)) < 5800; i++ {
		bigACL = append(bigACL, fmt.Sprintf("devices/%d/+", i))
	}
	big := testClaims()
	big.TopicACL = bigACL
	forged := mustSign(b, a, big)
	forged = forged[:len(forged)-4] + "AAAA"
	huge := signRaw(a, a.header(), payload(`"pad":"`+strings.Repeat("x", 48<<10)+`",`))
	huge = huge[:len(huge)-4] + "AAAA"
	tokens := []struct {
		name, tok string
		ok        bool
	}{{"good", good, true}, {"forged", forged, false}, {"oversized", huge, false}}
	verifiers := []struct {
		name   string
		verify func(string) error
	}{
		{"ours", func(tok string) error { _, err := Verify(tok, keys, testAud, testNow, jwtLeeway); return err }},
		{"golang-jwt", func(tok string) error { _, err := golangJWTVerify(tok, keys); return err }},
	}
	for _, tc := range tokens {
		for _, v := range verifiers {
			b.Run(tc.name+"/"+v.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(tc.tok)))
				defer reportCPU(b)()
				for b.Loop() {
					if err := v.verify(tc.tok); (err == nil) != tc.ok {
						b.Fatalf("verify: %v", err)
					}
				}
			})
		}
	}
}

// TestSignMatchesHandwritten: Sign, now made by golang-jwt, writes the
// same tokens byte for byte as the hand-written signer it replaced, except
// where encoding/json escapes a character otherwise than the old writer
// (<, >, &, U+2028, U+2029 escaped; \b and \f short), and Verify reads the
// same claims from both.
func TestSignMatchesHandwritten(t *testing.T) {
	a := newTestKey("a")
	keys := a.keys()
	tests := []struct {
		name      string
		edit      func(c *Claims)
		sameBytes bool
	}{
		{"Typical", func(c *Claims) {}, true},
		{"NoExp", func(c *Claims) { c.ExpiresAt = 0 }, true},
		{"NilTopicACL", func(c *Claims) { c.TopicACL = nil }, true},
		{"SplitACLs", func(c *Claims) { c.PublishACL = []string{"up/+", "a/#"}; c.SubscribeACL = []string{"down/+"} }, true},
		{"EmptyNarrowing", func(c *Claims) { c.PublishACL = []string{}; c.SubscribeACL = []string{} }, true},
		{"QuotesAndUnicode", func(c *Claims) { c.Subject = `dev "ä" \ 🌡`; c.TopicACL = []string{"é/+"} }, true},
		{"HTMLCharacters", func(c *Claims) { c.Subject = "<a&b>"; c.TopicACL = []string{"x/<y>"} }, false},
		{"LineSeparators", func(c *Claims) { c.Subject = "a\u2028b\u2029c" }, false},
		{"ControlCharacters", func(c *Claims) { c.Subject = "a\tb\nc\rd\x01e\x7f" }, true},
		{"BackspaceFormFeed", func(c *Claims) { c.Subject = "a\bb\fc" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(c)
			got := mustSign(t, a, c)
			old := signHandwritten(a.priv, a.kid, c)
			if (got == old) != tc.sameBytes {
				t.Fatalf("same bytes: %v, want %v\ngolang-jwt:  %s\nhandwritten: %s", got == old, tc.sameBytes, got, old)
			}
			vg, err := Verify(got, keys, testAud, testNow, 0)
			if err != nil {
				t.Fatalf("Verify(golang-jwt token): %v", err)
			}
			vo, err := Verify(old, keys, testAud, testNow, 0)
			if err != nil {
				t.Fatalf("Verify(handwritten token): %v", err)
			}
			if fmt.Sprintf("%#v", vg) != fmt.Sprintf("%#v", vo) {
				t.Fatalf("claims differ:\n%#v\n%#v", vg, vo)
			}
		})
	}
}
