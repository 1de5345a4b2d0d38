package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestThumbprint(t *testing.T) {
	tests := []struct {
		name string
		x    string // public key, base64url
		want string
	}{
		// RFC 8037 Appendix A.3.
		{"RFC8037", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"},
		// The two keys of Cloudflare's published /publickeys sample.
		{"CloudflareSample1", "Phf82R8tG1FdY475-AgtlaWIwH1lLFlfWu5LrsKhyjw", "JDPuYJqHOvqzlakkNFQ9kfN7WsYs5uHndp_ziRdmOCU"},
		{"CloudflareSample2", "Bt4kQWcK_XhZP1ZxEflsoYbqaBm9rEDk_jNWPdhxwTI", "qk7Z4hbN738v-m2CKdVaKTav9pU32MAaQXB2tDaQ-_o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := base64.RawURLEncoding.DecodeString(tt.x)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := Thumbprint(pub), tt.want; got != want {
				t.Errorf("Thumbprint = %s, want %s", got, want)
			}
			jwk := JWK{Use: "sig", Kty: "OKP", Kid: tt.want, Crv: "Ed25519", Alg: "EdDSA", X: tt.x}
			if got, want := NewJWK(pub), jwk; got != want {
				t.Errorf("NewJWK = %+v, want %+v", got, want)
			}
			if _, err := jwk.PublicKey(); err != nil {
				t.Errorf("PublicKey: %v", err)
			}
		})
	}
}

func TestJWKJSON(t *testing.T) {
	// The shape of Cloudflare's /publickeys sample, field for field.
	const sample = `{"keys":[{"use":"sig","kty":"OKP","kid":"JDPuYJqHOvqzlakkNFQ9kfN7WsYs5uHndp_ziRdmOCU","crv":"Ed25519","alg":"EdDSA","x":"Phf82R8tG1FdY475-AgtlaWIwH1lLFlfWu5LrsKhyjw"}]}`
	var set JWKSet
	if err := json.Unmarshal([]byte(sample), &set); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), sample; got != want {
		t.Errorf("round trip = %s\nwant %s", got, want)
	}
	keys, err := set.ParseKeys()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(keys), 1; got != want {
		t.Fatalf("ParseKeys gave %d keys, want %d", got, want)
	}
	pub, ok := set.Key("JDPuYJqHOvqzlakkNFQ9kfN7WsYs5uHndp_ziRdmOCU")
	if !ok || !pub.Equal(keys["JDPuYJqHOvqzlakkNFQ9kfN7WsYs5uHndp_ziRdmOCU"]) {
		t.Errorf("JWKSet.Key = %x, %v; want the parsed key", pub, ok)
	}
	if _, ok := set.Key("unused"); ok {
		t.Error("JWKSet.Key found an absent kid")
	}
}

func TestJWKPublicKey(t *testing.T) {
	good := NewJWK(newTestKey("a").pub)
	tests := []struct {
		name string
		edit func(k *JWK)
		ok   bool
	}{
		{"OK", func(k *JWK) {}, true},
		{"OKNoUseNoAlg", func(k *JWK) { k.Use, k.Alg = "", "" }, true},
		{"ErrKty", func(k *JWK) { k.Kty = "EC" }, false},
		{"ErrCrv", func(k *JWK) { k.Crv = "X25519" }, false},
		{"ErrAlg", func(k *JWK) { k.Alg = "ES256" }, false},
		{"ErrUse", func(k *JWK) { k.Use = "enc" }, false},
		{"ErrXShort", func(k *JWK) { k.X = k.X[:40] }, false},
		{"ErrXPadded", func(k *JWK) { k.X += "=" }, false},
		{"ErrXStdAlphabet", func(k *JWK) {
			*k = NewJWK(newTestKeyWithChar("-"))
			k.X = strings.NewReplacer("-", "+", "_", "/").Replace(k.X)
			k.Kid = thumbprintX(k.X) // so that only x is wrong
		}, false},
		{"ErrXPlaceholder", func(k *JWK) { k.X, k.Kid = "unused", "unused" }, false},
		{"ErrKidNotThumbprint", func(k *JWK) { k.Kid = NewJWK(newTestKey("b").pub).Kid }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := good
			tt.edit(&k)
			pub, err := k.PublicKey()
			if got, want := err == nil, tt.ok; got != want {
				t.Fatalf("PublicKey() error = %v, want ok %v", err, want)
			}
			if tt.ok && len(pub) != ed25519.PublicKeySize {
				t.Errorf("PublicKey() is %d bytes", len(pub))
			}
		})
	}
}

// newTestKeyWithChar returns a public key whose base64url form holds c.
func newTestKeyWithChar(c string) ed25519.PublicKey {
	for i := 0; ; i++ {
		k := newTestKey(c + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		if strings.Contains(base64.RawURLEncoding.EncodeToString(k.pub), c) {
			return k.pub
		}
	}
}

func TestParseKeys(t *testing.T) {
	a, b := newTestKey("a"), newTestKey("b")
	keys, err := JWKSet{Keys: []JWK{NewJWK(a.pub), NewJWK(b.pub)}}.ParseKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []testKey{a, b} {
		if pub, ok := keys.Key(k.kid); !ok || !pub.Equal(k.pub) {
			t.Errorf("Keys.Key(%s) = %x, %v", k.kid, pub, ok)
		}
	}
	if _, err := (JWKSet{Keys: []JWK{NewJWK(a.pub), NewJWK(a.pub)}}).ParseKeys(); err == nil {
		t.Error("ParseKeys accepted a duplicate kid")
	}
	bad := NewJWK(a.pub)
	bad.Crv = "P-256"
	if _, err := (JWKSet{Keys: []JWK{NewJWK(b.pub), bad}}).ParseKeys(); err == nil {
		t.Error("ParseKeys accepted an invalid key")
	}
}

func TestNewKeys(t *testing.T) {
	a, b := newTestKey("a"), newTestKey("b")
	keys, err := NewKeys(NewKey(a.pub), NewKey(b.pub))
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := keys.Key(a.kid); !ok || !pub.Equal(a.pub) {
		t.Errorf("Key(%s) = %x, %v", a.kid, pub, ok)
	}
	for name, ks := range map[string][]Key{
		"Duplicate": {NewKey(a.pub), NewKey(a.pub)},
		"NoID":      {{Public: a.pub}},
		"ShortKey":  {{ID: "x", Public: a.pub[:16]}},
	} {
		if _, err := NewKeys(ks...); err == nil {
			t.Errorf("%s: NewKeys accepted %v", name, ks)
		}
	}
}
