package token

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func fuzzSeeds(t testing.TB) []string {
	a := newTestKey("a")
	c := testClaims()
	c.PublishACL = []string{"a/+"}
	good := mustSign(t, a, c)
	parts := strings.Split(good, ".")
	return []string{
		good,
		mustSign(t, a, testClaims()),
		signRaw(a, a.header(), `{"aud":["x"],"sub":"s\u00e9","jti":"j","iat":1,"topicAcl":[]}`),
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		"eyJhbGciOiJub25lIn0.e30.",
		"", ".", "..", "...", "a.b.c",
	}
}

// FuzzVerify feeds arbitrary tokens to Verify, which must not panic,
// must explain every refusal with a complete *Error, and must return
// complete claims when it accepts.
func FuzzVerify(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	a := newTestKey("a")
	keys := a.keys()
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(tok, keys, testAud, testNow, time.Minute)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason == "" || e.Message == "" {
				t.Fatalf("Verify error %v (%T) is not a complete *Error", err, err)
			}
			return
		}
		if c.Subject == "" || c.ID == "" || c.Audience != testAud || c.TopicACL == nil {
			t.Fatalf("Verify accepted incomplete claims %+v", c)
		}
	})
}

func FuzzPeekAudience(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		aud, err := PeekAudience(tok)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("PeekAudience error %v is %T, want *Error", err, err)
			}
			return
		}
		u, err := Parse(tok)
		if err != nil {
			t.Fatalf("PeekAudience accepted what Parse refuses: %v", err)
		}
		if got, _ := u.Audience(); got != aud {
			t.Fatalf("Unverified.Audience = %q, PeekAudience = %q", got, aud)
		}
	})
}

// FuzzVerifyClaims signs arbitrary headers and payloads, so that the JSON
// readers behind the signature check get fuzzed too, and compares what
// Verify accepts with encoding/json's reading of the same bytes.
func FuzzVerifyClaims(f *testing.F) {
	a := newTestKey("a")
	f.Add(a.header(), payload(""))
	f.Add(a.header(), payload(`"publishAcl":["a/+","b\u0023"],"x":[{"y":null}],`))
	f.Add(a.header(), `{"aud":["`+testAud+`"],"sub":"s\ud83c\udf21","jti":"j","iat":1700000000,"topicAcl":[]}`)
	f.Add(`{"alg":"EdD\u0053A","kid":"`+a.kid+`","typ":"JWT"}`, payload(`"nbf":1,`))
	f.Add(`{"alg":"none"}`, `{}`)
	keys := a.keys()
	f.Fuzz(func(t *testing.T, header, claims string) {
		tok := signRaw(a, header, claims)
		c, err := Verify(tok, keys, testAud, testNow, time.Minute)
		_, _ = PeekAudience(tok)
		if err != nil {
			return
		}
		if !json.Valid([]byte(header)) || !json.Valid([]byte(claims)) {
			t.Fatalf("Verify accepted invalid JSON: %q %q", header, claims)
		}
		// Maps, because encoding/json matches struct fields without regard
		// to case, while JOSE names are case-sensitive.
		var h, m map[string]any
		if err := json.Unmarshal([]byte(header), &h); err != nil {
			t.Fatalf("encoding/json refuses an accepted header %q: %v", header, err)
		}
		if err := json.Unmarshal([]byte(claims), &m); err != nil {
			t.Fatalf("encoding/json refuses accepted claims %q: %v", claims, err)
		}
		for name, got := range map[string]any{
			"sub": c.Subject, "jti": c.ID, "iat": float64(c.IssuedAt),
		} {
			if want := m[name]; got != want {
				t.Fatalf("%s: Verify read %#v, encoding/json %#v", name, got, want)
			}
		}
		if got, want := h["alg"], any("EdDSA"); got != want {
			t.Fatalf("alg: Verify accepted a header encoding/json reads as alg %#v", got)
		}
		if got, want := h["kid"], any(a.kid); got != want {
			t.Fatalf("kid: Verify accepted a header encoding/json reads as kid %#v", got)
		}
	})
}
