package token

import (
	"encoding/json"
	"testing"
	"time"
)

func BenchmarkSign(b *testing.B) {
	k := newTestKey("a")
	c := testClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(k.priv, k.kid, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignParallel reports minting throughput on all GOMAXPROCS
// cores, the figure the control plane's target is stated in.
func BenchmarkSignParallel(b *testing.B) {
	k := newTestKey("a")
	c := testClaims()
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := Sign(k.priv, k.kid, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}

func BenchmarkVerify(b *testing.B) {
	k := newTestKey("a")
	keys := k.keys()
	tok := mustSign(b, k, testClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, keys, testAud, testNow, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBadSignature(b *testing.B) {
	k := newTestKey("a")
	keys := k.keys()
	tok := mustSign(b, k, testClaims())
	tok = tok[:len(tok)-2] + "AA"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, keys, testAud, testNow, 0); err == nil {
			b.Fatal("verified")
		}
	}
}

func BenchmarkPeekAudience(b *testing.B) {
	k := newTestKey("a")
	tok := mustSign(b, k, testClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PeekAudience(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimsJSON compares the hand-written claims writer with
// encoding/json, to justify keeping it.
func BenchmarkClaimsJSON(b *testing.B) {
	c := testClaims()
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf [stackBuf]byte
		for b.Loop() {
			_ = appendClaims(buf[:0], c)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		type wire struct {
			Iat          int64    `json:"iat"`
			Exp          int64    `json:"exp,omitempty"`
			Sub          string   `json:"sub"`
			Jti          string   `json:"jti"`
			Aud          string   `json:"aud"`
			TopicACL     []string `json:"topicAcl"`
			PublishACL   []string `json:"publishAcl,omitempty"`
			SubscribeACL []string `json:"subscribeAcl,omitempty"`
		}
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(wire{c.IssuedAt, c.ExpiresAt, c.Subject, c.ID, c.Audience, c.TopicACL, c.PublishACL, c.SubscribeACL})
		}
	})
}

// BenchmarkVerifyHS256 is the cost of a self-signed (fastly) token's
// verification, to compare with BenchmarkVerify's Ed25519 one.
func BenchmarkVerifyHS256(b *testing.B) {
	keys := fastlyKeys()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyHS256(pyjwtToken, keys, testNow, FastlyLeeway); err != nil {
			b.Fatal(err)
		}
	}
}
