package token

import (
	"encoding/json"
	"syscall"
	"testing"
	"time"
)

// reportCPU starts counting the process's CPU time; the function it
// returns reports it per operation as cpu-ns/op. The benchmarks here run
// one goroutine (and the garbage collector), so on a machine shared with
// other work this moves much less than ns/op, which counts the time spent
// waiting for a core.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64((processCPU(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// signers are the current Sign (golang-jwt) and the hand-written signer it
// replaced, side by side.
var signers = []struct {
	name string
	sign func(k testKey, c *Claims) (string, error)
}{
	{"golang-jwt", func(k testKey, c *Claims) (string, error) { return Sign(k.priv, k.kid, c) }},
	{"handwritten", func(k testKey, c *Claims) (string, error) { return signHandwritten(k.priv, k.kid, c), nil }},
}

func BenchmarkSign(b *testing.B) {
	k := newTestKey("a")
	c := testClaims()
	for _, s := range signers {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := s.sign(k, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignParallel reports minting throughput on all GOMAXPROCS
// cores, the figure the control plane's target is stated in.
func BenchmarkSignParallel(b *testing.B) {
	k := newTestKey("a")
	c := testClaims()
	for _, s := range signers {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.sign(k, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
		})
	}
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
