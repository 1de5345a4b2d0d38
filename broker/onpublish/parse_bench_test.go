package onpublish

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// benchBatch is a batch of 32 messages like the end-to-end benchmark's:
// 64-byte binary payloads (sent in base64), and its body.
func benchBatch() ([]*Message, []byte) {
	msgs := make([]*Message, 32)
	for i := range msgs {
		msgs[i] = &Message{Topic: "bench", ClientID: "01JF3Q5X9V6T2R8K4M7N0P1Q2S", JTI: "01JF3Q5X9V6T2R8K4M7N0P1Q2T", ReceivedAt: 1765000000, Payload: make([]byte, 64)}
	}
	return msgs, encodeBatch(msgs, "hooked.my-namespace.pubsub.example.com")
}

// BenchmarkParseAnswer reads the answer of a hook that returns its input,
// for a batch of 32, and takes each message's verdict.
func BenchmarkParseAnswer(b *testing.B) {
	msgs, body := benchBatch()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := parseAnswer(body, msgs)
		if err != nil {
			b.Fatal(err)
		}
		for i, m := range msgs {
			if a.verdict(i, m).Verdict != Deliver {
				b.Fatal("dropped")
			}
		}
	}
}

// BenchmarkEncodeSign builds and signs the request body of a batch of 32.
func BenchmarkEncodeSign(b *testing.B) {
	msgs, body := benchBatch()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Sign(priv, 1765000000, encodeBatch(msgs, "hooked.my-namespace.pubsub.example.com"))
	}
}
