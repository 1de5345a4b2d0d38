package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
)

// testNow is the clock of every test; tokens are minted against it.
var testNow = time.Unix(1_700_000_000, 0)

const testAud = "broker-a.ns.pubsub.example"

// testKey is a deterministic Ed25519 key pair with its thumbprint kid.
type testKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	kid  string
}

func newTestKey(name string) testKey {
	seed := sha256.Sum256([]byte(name))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	return testKey{priv: priv, pub: pub, kid: Thumbprint(pub)}
}

func (k testKey) keys() Keys { return Keys{k.kid: k.pub} }

// testClaims returns typical claims, valid at testNow for testAud.
func testClaims() *Claims {
	return &Claims{
		Subject:   "01HDQFD5Y8HWBFGFBBZPSWQ22M",
		ID:        "01HDQFD5Y8HWBFGFBBZPSWQ22N",
		Audience:  testAud,
		IssuedAt:  testNow.Unix(),
		ExpiresAt: testNow.Add(time.Hour).Unix(),
		TopicACL:  []string{"#"},
	}
}

func mustSign(t testing.TB, k testKey, c *Claims) string {
	t.Helper()
	tok, err := Sign(k.priv, k.kid, c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// signRaw signs an arbitrary header and payload, for tokens that Sign
// would refuse to make.
func signRaw(k testKey, header, payload string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	return signed + "." + enc.EncodeToString(ed25519.Sign(k.priv, []byte(signed)))
}

// header returns our header for k.
func (k testKey) header() string { return `{"alg":"EdDSA","kid":"` + k.kid + `"}` }

// payload returns claims JSON, valid at testNow for testAud, with extra
// members spliced in front (a later duplicate would be refused).
func payload(extra string) string {
	return `{` + extra + `"iat":1700000000,"exp":1700003600,"sub":"client-1","jti":"01HDQFD5Y8HWBFGFBBZPSWQ22N","aud":"` + testAud + `","topicAcl":["#"]}`
}
