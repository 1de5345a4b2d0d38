package token

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	k := newTestKey("a")
	tests := []struct {
		name   string
		claims func(c *Claims)
	}{
		{"Typical", func(c *Claims) {}},
		{"NoExpiry", func(c *Claims) { c.ExpiresAt = 0 }},
		{"NilTopicACL", func(c *Claims) { c.TopicACL = nil }},
		{"NarrowACLs", func(c *Claims) {
			c.TopicACL = []string{"devices/d1/#", "$SYS/+"}
			c.PublishACL = []string{"devices/d1/telemetry"}
			c.SubscribeACL = []string{"devices/d1/commands/+"}
		}},
		{"EmptyNarrowingACLs", func(c *Claims) { c.PublishACL, c.SubscribeACL = []string{}, []string{} }},
		{"Escapes", func(c *Claims) {
			c.Subject = "quote\" backslash\\ tab\t nl\n ctl\x01 é 🌡 \u2028"
			c.TopicACL = []string{"métriques/\"x\"/+", "a\\b/#"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := testClaims()
			tt.claims(want)
			tok := mustSign(t, k, want)
			got, err := Verify(tok, k.keys(), testAud, testNow, 0)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want.TopicACL == nil {
				want.TopicACL = []string{} // written as []
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Verify claims = %+v\nwant %+v", got, want)
			}
			if (got.PublishACL == nil) != (want.PublishACL == nil) || (got.SubscribeACL == nil) != (want.SubscribeACL == nil) {
				t.Errorf("nil-ness of narrowing ACLs lost: got %#v %#v", got.PublishACL, got.SubscribeACL)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	k := newTestKey("a")
	c := testClaims()
	c.PublishACL = []string{"a/+"}
	tok := mustSign(t, k, c)
	if strings.ContainsAny(tok, "=+/ \n") {
		t.Errorf("token %q is not unpadded base64url", tok)
	}
	parts := strings.Split(tok, ".")
	if got, want := len(parts), 3; got != want {
		t.Fatalf("token has %d segments, want %d", got, want)
	}
	dec := func(s string) string {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			t.Fatalf("segment %q: %v", s, err)
		}
		return string(b)
	}
	if got, want := dec(parts[0]), `{"alg":"EdDSA","kid":"`+k.kid+`"}`; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
	want := `{"iat":1700000000,"exp":1700003600,"sub":"01HDQFD5Y8HWBFGFBBZPSWQ22M","jti":"01HDQFD5Y8HWBFGFBBZPSWQ22N","aud":"` + testAud + `","topicAcl":["#"],"publishAcl":["a/+"]}`
	if got := dec(parts[1]); got != want {
		t.Errorf("payload = %s\nwant      %s", got, want)
	}
	if got, want := len(dec(parts[2])), ed25519.SignatureSize; got != want {
		t.Errorf("signature is %d bytes, want %d", got, want)
	}
}

// TestGolangJWTVerifiesOurTokens uses an independent implementation to
// check that our tokens are standard EdDSA JWTs.
func TestGolangJWTVerifiesOurTokens(t *testing.T) {
	k := newTestKey("a")
	c := testClaims()
	c.SubscribeACL = []string{"x/#"}
	tok := mustSign(t, k, c)

	var kidSeen any
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kidSeen = tk.Header["kid"]
		return k.pub, nil
	},
		jwt.WithValidMethods([]string{"EdDSA"}),
		jwt.WithAudience(testAud),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return testNow }),
	)
	if err != nil {
		t.Fatalf("jwt.Parse: %v", err)
	}
	if got, want := kidSeen, any(k.kid); got != want {
		t.Errorf("kid = %v, want %v", got, want)
	}
	if _, ok := parsed.Header["typ"]; ok {
		t.Errorf("header has typ, want none: %v", parsed.Header)
	}
	mc := parsed.Claims.(jwt.MapClaims)
	for name, want := range map[string]any{
		"sub": c.Subject, "jti": c.ID, "aud": c.Audience,
		"iat": float64(c.IssuedAt), "exp": float64(c.ExpiresAt),
		"topicAcl": []any{"#"}, "subscribeAcl": []any{"x/#"},
	} {
		if got := mc[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("claim %s = %#v, want %#v", name, got, want)
		}
	}
	if _, ok := mc["publishAcl"]; ok {
		t.Errorf("publishAcl present, want absent when nil")
	}

	// And the same library refuses our token under another key.
	other := newTestKey("b")
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return other.pub, nil }, jwt.WithValidMethods([]string{"EdDSA"})); err == nil {
		t.Error("jwt.Parse accepted the token with another key")
	}
}

func TestVerify(t *testing.T) {
	a, b := newTestKey("broker-a"), newTestKey("broker-b")
	keysA := a.keys()
	good := mustSign(t, a, testClaims())
	parts := strings.Split(good, ".")
	enc := base64.RawURLEncoding

	withClaims := func(edit func(c *Claims)) string {
		c := testClaims()
		edit(c)
		return mustSign(t, a, c)
	}
	// flip changes one character of a segment to another valid one.
	flip := func(seg string, i int) string {
		c := byte('A')
		if seg[i] == 'A' {
			c = 'B'
		}
		return seg[:i] + string(c) + seg[i+1:]
	}
	hs256 := func(secret []byte) string {
		signed := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"`+a.kid+`","typ":"JWT"}`)) + "." + parts[1]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(signed))
		return signed + "." + enc.EncodeToString(m.Sum(nil))
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	jc := jwt.MapClaims{"sub": "client-1", "jti": "j", "aud": testAud, "iat": testNow.Unix(), "topicAcl": []string{"#"}}
	rs256 := jwt.NewWithClaims(jwt.SigningMethodRS256, jc)
	rs256.Header["kid"] = a.kid
	rs256Tok, err := rs256.SignedString(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	hsLib := jwt.NewWithClaims(jwt.SigningMethodHS256, jc)
	hsLib.Header["kid"] = a.kid
	hsLibTok, err := hsLib.SignedString([]byte(a.pub))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		tok    string
		keys   KeySet
		now    time.Time
		leeway time.Duration
		want   Reason // "" for success
	}{
		{"OK", good, keysA, testNow, 0, ""},
		{"OKTwoKeys", good, Keys{a.kid: a.pub, b.kid: b.pub}, testNow, 0, ""},
		{"OKJWKSet", good, JWKSet{Keys: []JWK{NewJWK(b.pub), NewJWK(a.pub)}}, testNow, 0, ""},
		{"OKAudArray", signRaw(a, a.header(), strings.Replace(payload(""), `"aud":"`+testAud+`"`, `"aud":["`+testAud+`"]`, 1)), keysA, testNow, 0, ""},
		{"OKUnknownClaim", signRaw(a, a.header(), payload(`"x":{"y":[1,2.5e3,true,null,"z"]},`)), keysA, testNow, 0, ""},
		{"OKUnknownHeader", signRaw(a, `{"typ":"JWT","alg":"EdDSA","kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ""},
		{"OKEscapedAlg", signRaw(a, `{"alg":"EdD\u0053A","kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ""},
		{"OKWhitespace", signRaw(a, " {\"alg\" : \"EdDSA\",\n\"kid\":\""+a.kid+"\"}\t", " "+payload("")+"\r\n"), keysA, testNow, 0, ""},
		{"OKWithinLeeway", good, keysA, testNow.Add(time.Hour + 30*time.Second), time.Minute, ""},
		{"OKIssuedWithinLeeway", good, keysA, testNow.Add(-30 * time.Second), time.Minute, ""},
		{"OKNoExpiry", withClaims(func(c *Claims) { c.ExpiresAt = 0 }), keysA, testNow.AddDate(50, 0, 0), 0, ""},

		{"TamperedPayload", parts[0] + "." + flip(parts[1], 10) + "." + parts[2], keysA, testNow, 0, ReasonSignature},
		{"TamperedSignature", parts[0] + "." + parts[1] + "." + flip(parts[2], 5), keysA, testNow, 0, ReasonSignature},
		{"SwappedPayload", parts[0] + "." + strings.Split(withClaims(func(c *Claims) { c.Subject = "x" }), ".")[1] + "." + parts[2], keysA, testNow, 0, ReasonSignature},
		{"AlgNone", enc.EncodeToString([]byte(`{"alg":"none","kid":"`+a.kid+`"}`)) + "." + parts[1] + ".", keysA, testNow, 0, ReasonAlgorithm},
		{"AlgNoneWithSignature", enc.EncodeToString([]byte(`{"alg":"none","kid":"`+a.kid+`"}`)) + "." + parts[1] + "." + parts[2], keysA, testNow, 0, ReasonAlgorithm},
		{"HS256PublicKeyAsSecret", hs256(a.pub), keysA, testNow, 0, ReasonAlgorithm},
		{"HS256PublicKeyJWKAsSecret", hs256([]byte(NewJWK(a.pub).X)), keysA, testNow, 0, ReasonAlgorithm},
		{"HS256GolangJWT", hsLibTok, keysA, testNow, 0, ReasonAlgorithm},
		{"RS256", rs256Tok, keysA, testNow, 0, ReasonAlgorithm},
		{"AlgMissing", signRaw(a, `{"kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ReasonAlgorithm},
		{"AlgLowercase", signRaw(a, `{"alg":"eddsa","kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ReasonAlgorithm},
		{"AlgEd25519", signRaw(a, `{"alg":"Ed25519","kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ReasonAlgorithm},
		{"AlgNotString", signRaw(a, `{"alg":["EdDSA"],"kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ReasonAlgorithm},
		{"AlgDuplicate", signRaw(a, `{"alg":"EdDSA","alg":"none","kid":"`+a.kid+`"}`, payload("")), keysA, testNow, 0, ReasonMalformed},
		{"Crit", signRaw(a, `{"alg":"EdDSA","kid":"`+a.kid+`","crit":["exp"]}`, payload("")), keysA, testNow, 0, ReasonMalformed},
		{"HeaderNotObject", signRaw(a, `["EdDSA"]`, payload("")), keysA, testNow, 0, ReasonMalformed},
		{"HeaderTrailing", signRaw(a, a.header()+"x", payload("")), keysA, testNow, 0, ReasonMalformed},
		{"HeaderTooLarge", signRaw(a, `{"alg":"EdDSA","kid":"`+a.kid+`","x":"`+strings.Repeat("x", 600)+`"}`, payload("")), keysA, testNow, 0, ReasonMalformed},

		{"KidMissing", signRaw(a, `{"alg":"EdDSA"}`, payload("")), keysA, testNow, 0, ReasonUnknownKey},
		{"KidEmpty", signRaw(a, `{"alg":"EdDSA","kid":""}`, payload("")), keysA, testNow, 0, ReasonUnknownKey},
		{"KidUnknown", mustSign(t, testKey{priv: a.priv, kid: "someone-else"}, testClaims()), keysA, testNow, 0, ReasonUnknownKey},
		{"KidTooLong", signRaw(a, `{"alg":"EdDSA","kid":"`+strings.Repeat("k", 200)+`"}`, payload("")), keysA, testNow, 0, ReasonUnknownKey},
		{"OtherBrokersKeys", good, b.keys(), testNow, 0, ReasonUnknownKey},
		{"OtherBrokersToken", mustSign(t, b, testClaims()), keysA, testNow, 0, ReasonUnknownKey},
		{"OtherBrokersKeyUnderOurKid", mustSign(t, testKey{priv: b.priv, kid: a.kid}, testClaims()), keysA, testNow, 0, ReasonSignature},
		{"NilKeys", good, nil, testNow, 0, ReasonUnknownKey},
		{"NilKeysMap", good, Keys(nil), testNow, 0, ReasonUnknownKey},
		{"ShortPublicKey", good, Keys{a.kid: a.pub[:31]}, testNow, 0, ReasonUnknownKey},

		{"Expired", good, keysA, testNow.Add(2 * time.Hour), time.Minute, ReasonExpired},
		{"ExpiredBeyondLeeway", good, keysA, testNow.Add(time.Hour + 61*time.Second), time.Minute, ReasonExpired},
		{"ExpiredAtExp", good, keysA, testNow.Add(time.Hour), 0, ReasonExpired},
		{"ExpZero", signRaw(a, a.header(), strings.Replace(payload(""), `"exp":1700003600`, `"exp":0`, 1)), keysA, testNow, 0, ReasonExpired},
		{"IssuedInFuture", good, keysA, testNow.Add(-2 * time.Minute), time.Minute, ReasonNotYetValid},
		{"NotBefore", signRaw(a, a.header(), payload(`"nbf":1700000100,`)), keysA, testNow, time.Minute, ReasonNotYetValid},
		{"WrongAudience", withClaims(func(c *Claims) { c.Audience = "broker-b.ns.pubsub.example" }), keysA, testNow, 0, ReasonAudience},
		{"AudienceCase", withClaims(func(c *Claims) { c.Audience = strings.ToUpper(testAud) }), keysA, testNow, 0, ReasonAudience},
		{"AudienceMissing", signRaw(a, a.header(), strings.Replace(payload(""), `,"aud":"`+testAud+`"`, ``, 1)), keysA, testNow, 0, ReasonAudience},
		{"AudienceArrayOfTwo", signRaw(a, a.header(), strings.Replace(payload(""), `"aud":"`+testAud+`"`, `"aud":["`+testAud+`","x"]`, 1)), keysA, testNow, 0, ReasonAudience},
		{"AudienceEmptyArray", signRaw(a, a.header(), strings.Replace(payload(""), `"aud":"`+testAud+`"`, `"aud":[]`, 1)), keysA, testNow, 0, ReasonAudience},
		{"AudienceNumber", signRaw(a, a.header(), strings.Replace(payload(""), `"aud":"`+testAud+`"`, `"aud":1`, 1)), keysA, testNow, 0, ReasonAudience},

		{"Base64BadCharacter", parts[0] + "." + parts[1][:5] + "*" + parts[1][6:] + "." + parts[2], keysA, testNow, 0, ReasonMalformed},
		{"Base64StdAlphabet", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/", keysA, testNow, 0, ReasonMalformed},
		{"Base64Padding", parts[0] + "." + parts[1] + "." + parts[2] + "==", keysA, testNow, 0, ReasonMalformed},
		{"Base64Newline", parts[0] + "." + parts[1] + "." + parts[2][:40] + "\n" + parts[2][40:], keysA, testNow, 0, ReasonMalformed},
		{"Base64TrailingBits", parts[0] + "." + parts[1] + "." + parts[2][:85] + "B", keysA, testNow, 0, ReasonMalformed},
		{"Base64Length", parts[0] + "x." + parts[1] + "." + parts[2], keysA, testNow, 0, ReasonMalformed},
		{"SignatureShort", parts[0] + "." + parts[1] + "." + parts[2][:84], keysA, testNow, 0, ReasonMalformed},
		{"SignatureEmpty", parts[0] + "." + parts[1] + ".", keysA, testNow, 0, ReasonMalformed},
		{"TwoSegments", parts[0] + "." + parts[1], keysA, testNow, 0, ReasonMalformed},
		{"FourSegments", good + "." + parts[2], keysA, testNow, 0, ReasonMalformed},
		{"Empty", "", keysA, testNow, 0, ReasonMalformed},
		{"Dots", "..", keysA, testNow, 0, ReasonMalformed},
		{"Oversized", parts[0] + "." + strings.Repeat("A", MaxSize) + "." + parts[2], keysA, testNow, 0, ReasonMalformed},
		{"OversizedSigned", signRaw(a, a.header(), payload(`"x":"`+strings.Repeat("x", 6200)+`",`)), keysA, testNow, 0, ReasonMalformed},

		{"ClaimsNotJSON", signRaw(a, a.header(), `not json`), keysA, testNow, 0, ReasonClaims},
		{"ClaimsArray", signRaw(a, a.header(), `["sub"]`), keysA, testNow, 0, ReasonClaims},
		{"ClaimsTrailing", signRaw(a, a.header(), payload("")+`{}`), keysA, testNow, 0, ReasonClaims},
		{"ClaimsTruncated", signRaw(a, a.header(), strings.TrimSuffix(payload(""), "}")), keysA, testNow, 0, ReasonClaims},
		{"ClaimsDuplicate", signRaw(a, a.header(), payload(`"sub":"other",`)), keysA, testNow, 0, ReasonClaims},
		{"ClaimsDuplicateEscaped", signRaw(a, a.header(), payload(`"s\u0075b":"other",`)), keysA, testNow, 0, ReasonClaims},
		{"ClaimsInvalidUTF8", signRaw(a, a.header(), payload("\"x\":\"\xff\",")), keysA, testNow, 0, ReasonClaims},
		{"ClaimsLoneSurrogate", signRaw(a, a.header(), payload(`"x":"\ud800",`)), keysA, testNow, 0, ReasonClaims},
		{"ClaimsControlCharacter", signRaw(a, a.header(), payload("\"x\":\"a\tb\",")), keysA, testNow, 0, ReasonClaims},
		{"ClaimsDeep", signRaw(a, a.header(), payload(`"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`,`)), keysA, testNow, 0, ReasonClaims},
		{"SubNumber", signRaw(a, a.header(), strings.Replace(payload(""), `"sub":"client-1"`, `"sub":1`, 1)), keysA, testNow, 0, ReasonClaims},
		{"SubEmpty", signRaw(a, a.header(), strings.Replace(payload(""), `"sub":"client-1"`, `"sub":""`, 1)), keysA, testNow, 0, ReasonClaims},
		{"SubMissing", signRaw(a, a.header(), strings.Replace(payload(""), `"sub":"client-1",`, ``, 1)), keysA, testNow, 0, ReasonClaims},
		{"JtiNull", signRaw(a, a.header(), strings.Replace(payload(""), `"jti":"01HDQFD5Y8HWBFGFBBZPSWQ22N"`, `"jti":null`, 1)), keysA, testNow, 0, ReasonClaims},
		{"JtiMissing", signRaw(a, a.header(), strings.Replace(payload(""), `"jti":"01HDQFD5Y8HWBFGFBBZPSWQ22N",`, ``, 1)), keysA, testNow, 0, ReasonClaims},
		{"ExpString", signRaw(a, a.header(), strings.Replace(payload(""), `"exp":1700003600`, `"exp":"1700003600"`, 1)), keysA, testNow, 0, ReasonClaims},
		{"ExpFraction", signRaw(a, a.header(), strings.Replace(payload(""), `"exp":1700003600`, `"exp":1700003600.5`, 1)), keysA, testNow, 0, ReasonClaims},
		{"ExpExponent", signRaw(a, a.header(), strings.Replace(payload(""), `"exp":1700003600`, `"exp":1.7e9`, 1)), keysA, testNow, 0, ReasonClaims},
		{"ExpHuge", signRaw(a, a.header(), strings.Replace(payload(""), `"exp":1700003600`, `"exp":99999999999999999999`, 1)), keysA, testNow, 0, ReasonClaims},
		{"IatNegative", signRaw(a, a.header(), strings.Replace(payload(""), `"iat":1700000000`, `"iat":-1`, 1)), keysA, testNow, 0, ReasonClaims},
		{"IatLeadingZero", signRaw(a, a.header(), strings.Replace(payload(""), `"iat":1700000000`, `"iat":01700000000`, 1)), keysA, testNow, 0, ReasonClaims},
		{"IatMissing", signRaw(a, a.header(), strings.Replace(payload(""), `"iat":1700000000,`, ``, 1)), keysA, testNow, 0, ReasonClaims},
		{"TopicACLString", signRaw(a, a.header(), strings.Replace(payload(""), `"topicAcl":["#"]`, `"topicAcl":"#"`, 1)), keysA, testNow, 0, ReasonClaims},
		{"TopicACLNumber", signRaw(a, a.header(), strings.Replace(payload(""), `"topicAcl":["#"]`, `"topicAcl":["#",1]`, 1)), keysA, testNow, 0, ReasonClaims},
		{"TopicACLMissing", signRaw(a, a.header(), strings.Replace(payload(""), `,"topicAcl":["#"]`, ``, 1)), keysA, testNow, 0, ReasonClaims},
		{"TopicACLInvalidFilter", signRaw(a, a.header(), strings.Replace(payload(""), `"topicAcl":["#"]`, `"topicAcl":["a/#/b"]`, 1)), keysA, testNow, 0, ReasonClaims},
		{"TopicACLShared", signRaw(a, a.header(), strings.Replace(payload(""), `"topicAcl":["#"]`, `"topicAcl":["$share/g/#"]`, 1)), keysA, testNow, 0, ReasonClaims},
		{"PublishACLNull", signRaw(a, a.header(), payload(`"publishAcl":null,`)), keysA, testNow, 0, ReasonClaims},
		{"SubscribeACLObject", signRaw(a, a.header(), payload(`"subscribeAcl":{},`)), keysA, testNow, 0, ReasonClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Verify(tt.tok, tt.keys, testAud, tt.now, tt.leeway)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c == nil || c.Subject == "" {
					t.Fatalf("Verify returned claims %+v", c)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify error = %v (%T), want *Error with reason %s", err, err, tt.want)
			}
			if got, want := e.Reason, tt.want; got != want {
				t.Errorf("reason = %s (%q), want %s", got, e.Message, want)
			}
			if c != nil {
				t.Errorf("Verify returned claims with an error")
			}
			if strings.Contains(e.Message, "client-1") || strings.Contains(e.Message, testAud) {
				t.Errorf("message %q repeats token contents", e.Message)
			}
		})
	}
}

func TestVerifyDecodesEscapes(t *testing.T) {
	k := newTestKey("a")
	tok := signRaw(k, k.header(), `{"iat":1700000000,"sub":"a\"b\u00e9\ud83c\udf21\/","jti":"j","aud":"`+testAud+`","topicAcl":["\u0023","x/\u002b"],"publishAcl":[]}`)
	c, err := Verify(tok, k.keys(), testAud, testNow, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Subject, "a\"bé🌡/"; got != want {
		t.Errorf("sub = %q, want %q", got, want)
	}
	if got, want := c.TopicACL, []string{"#", "x/+"}; !reflect.DeepEqual(got, want) {
		t.Errorf("topicAcl = %q, want %q", got, want)
	}
	if c.PublishACL == nil || len(c.PublishACL) != 0 {
		t.Errorf("publishAcl = %#v, want non-nil empty", c.PublishACL)
	}
	if c.SubscribeACL != nil {
		t.Errorf("subscribeAcl = %#v, want nil", c.SubscribeACL)
	}
	if got, want := c.ExpiresAt, int64(0); got != want {
		t.Errorf("exp = %d, want %d", got, want)
	}
	// The ACL slices must not share spare capacity: appending to one must
	// not overwrite another.
	c.TopicACL = append(c.TopicACL, "z")
	if len(c.PublishACL) != 0 {
		t.Errorf("append to topicAcl changed publishAcl")
	}
}

func TestPeekAudience(t *testing.T) {
	k := newTestKey("a")
	tests := []struct {
		name string
		tok  string
		want string
		err  Reason
	}{
		{"OK", mustSign(t, k, testClaims()), testAud, ""},
		{"Array", signRaw(k, k.header(), `{"aud":["x.y"]}`), "x.y", ""},
		{"Escaped", signRaw(k, k.header(), `{"aud":"x\u002ey"}`), "x.y", ""},
		{"Unsigned", signRaw(k, k.header(), `{"aud":"x"}`)[:strings.LastIndexByte(signRaw(k, k.header(), `{"aud":"x"}`), '.')] + "." + strings.Repeat("A", 86), "x", ""},
		{"NoAudience", signRaw(k, k.header(), `{"sub":"x"}`), "", ReasonAudience},
		{"AudienceNumber", signRaw(k, k.header(), `{"aud":7}`), "", ReasonAudience},
		{"NotJSON", signRaw(k, k.header(), `{"aud":"x"`), "", ReasonClaims},
		{"AlgNone", signRaw(k, `{"alg":"none","kid":"x"}`, `{"aud":"x"}`), "", ReasonAlgorithm},
		{"Malformed", "a.b", "", ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeekAudience(tt.tok)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("PeekAudience = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != tt.err {
				t.Fatalf("PeekAudience = %q, %v; want reason %s", got, err, tt.err)
			}
		})
	}
}

func TestParseThenVerify(t *testing.T) {
	k := newTestKey("a")
	tok := mustSign(t, k, testClaims())
	u, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.KeyID(), k.kid; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	aud, err := u.Audience()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aud, testAud; got != want {
		t.Errorf("Audience = %q, want %q", got, want)
	}
	if _, err := u.Verify(k.keys(), aud, testNow, 0); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := Parse("x.y"); err == nil {
		t.Error("Parse accepted a malformed token")
	}
}

func TestSignRefuses(t *testing.T) {
	k := newTestKey("a")
	tests := []struct {
		name string
		priv ed25519.PrivateKey
		kid  string
		edit func(c *Claims)
	}{
		{"ShortKey", k.priv[:32], k.kid, func(c *Claims) {}},
		{"EmptyKid", k.priv, "", func(c *Claims) {}},
		{"LongKid", k.priv, strings.Repeat("k", maxKID+1), func(c *Claims) {}},
		{"EmptySub", k.priv, k.kid, func(c *Claims) { c.Subject = "" }},
		{"EmptyJti", k.priv, k.kid, func(c *Claims) { c.ID = "" }},
		{"EmptyAud", k.priv, k.kid, func(c *Claims) { c.Audience = "" }},
		{"InvalidUTF8", k.priv, k.kid, func(c *Claims) { c.Subject = "\xff" }},
		{"NegativeIat", k.priv, k.kid, func(c *Claims) { c.IssuedAt = -1 }},
		{"HugeExp", k.priv, k.kid, func(c *Claims) { c.ExpiresAt = maxNumericDate + 1 }},
		{"InvalidTopicACL", k.priv, k.kid, func(c *Claims) { c.TopicACL = []string{"a/#/b"} }},
		{"SharedPublishACL", k.priv, k.kid, func(c *Claims) { c.PublishACL = []string{"$share/g/a"} }},
		{"TooLarge", k.priv, k.kid, func(c *Claims) { c.TopicACL = []string{strings.Repeat("a", MaxSize)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testClaims()
			tt.edit(c)
			if tok, err := Sign(tt.priv, tt.kid, c); err == nil {
				t.Errorf("Sign = %q, want an error", tok)
			}
		})
	}
	if _, err := Sign(k.priv, k.kid, nil); err == nil {
		t.Error("Sign accepted nil claims")
	}
	// Only claims too long for a token give a *SizeError: the control
	// plane answers it as bad input, and any other refusal as a bug.
	c := testClaims()
	c.TopicACL = []string{strings.Repeat("a", MaxSize)}
	var size *SizeError
	if _, err := Sign(k.priv, k.kid, c); !errors.As(err, &size) || size.Size <= MaxSize {
		t.Errorf("Sign of oversized claims: %v, want a *SizeError over %d bytes", err, MaxSize)
	}
	c = testClaims()
	c.Subject = ""
	if _, err := Sign(k.priv, k.kid, c); errors.As(err, &size) {
		t.Errorf("Sign without sub: %v is a *SizeError", err)
	}
}

// TestVerifyAllocs pins the allocation budget: refusals cost nothing (but
// crypto/ed25519 allocates the error it returns for a bad signature), and a
// success costs the payload string, the Claims and one ACL backing array.
func TestVerifyAllocs(t *testing.T) {
	k := newTestKey("a")
	keys := k.keys()
	c := testClaims()
	c.PublishACL = []string{"a/+"}
	good := mustSign(t, k, c)
	bad := good[:len(good)-2] + "AA"
	tests := []struct {
		name string
		max  float64
		fn   func()
	}{
		{"OK", 3, func() { _, _ = Verify(good, keys, testAud, testNow, 0) }},
		{"BadSignature", 1, func() { _, _ = Verify(bad, keys, testAud, testNow, 0) }},
		{"WrongAudience", 0, func() { _, _ = Verify(good, keys, "other", testNow, 0) }},
		{"Expired", 0, func() { _, _ = Verify(good, keys, testAud, testNow.Add(24*time.Hour), 0) }},
		{"Malformed", 0, func() { _, _ = Verify("a.b.c", keys, testAud, testNow, 0) }},
		{"PeekAudience", 1, func() { _, _ = PeekAudience(good) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(20, tt.fn); got > tt.max {
				t.Errorf("allocations = %v, want at most %v", got, tt.max)
			}
		})
	}
}
