package natsbus

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/openpubsub/pubsub/broker"
)

func natsMsg(subject string, data []byte) *nats.Msg { return &nats.Msg{Subject: subject, Data: data} }

func TestEnvelopeRoundTrip(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for name, m := range map[string]*broker.Message{
		"Bare":  {Payload: []byte("x")},
		"Empty": {},
		"Full": {Payload: []byte("p"), QoS: 2, Retain: true, ClientID: "c", Expiry: now.Add(90 * time.Second),
			ContentType: "ct", PayloadFormat: 1, ResponseTopic: "r", CorrelationData: []byte("cd"),
			UserProperties: [][2]string{{"a", "b"}, {"", ""}}},
	} {
		t.Run(name, func(t *testing.T) {
			b := appendEnvelope(nil, "origin", m, now)
			e, err := decodeEnvelope(b, now)
			if err != nil {
				t.Fatal(err)
			}
			g := e.m
			if string(e.origin) != "origin" || !bytes.Equal(g.Payload, m.Payload) || g.QoS != m.QoS || g.Retain != m.Retain ||
				g.ClientID != m.ClientID || !g.Expiry.Equal(m.Expiry) || g.ContentType != m.ContentType ||
				g.PayloadFormat != m.PayloadFormat || g.ResponseTopic != m.ResponseTopic ||
				!bytes.Equal(g.CorrelationData, m.CorrelationData) || !slices.Equal(g.UserProperties, m.UserProperties) {
				t.Fatalf("got %+v, want %+v", g, m)
			}
		})
	}
}

// FuzzEnvelope decodes what another node (or anyone on the NATS
// account) may send: never a panic, and what decodes re-encodes to the
// same message.
func FuzzEnvelope(f *testing.F) {
	now := time.Unix(1_000_000, 0)
	f.Add(appendEnvelope(nil, "o", &broker.Message{Payload: []byte("x"), QoS: 1, ClientID: "c"}, now))
	f.Add(appendEnvelope(nil, "o", &broker.Message{ContentType: "t", UserProperties: [][2]string{{"k", "v"}}, Expiry: now.Add(time.Second)}, now))
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b, now)
		if err != nil {
			return
		}
		again, err := decodeEnvelope(appendEnvelope(nil, string(e.origin), &e.m, now), now)
		if err != nil {
			t.Fatalf("a decoded envelope does not decode once re-encoded: %v", err)
		}
		if !bytes.Equal(again.m.Payload, e.m.Payload) || again.m.ClientID != e.m.ClientID || len(again.m.UserProperties) != len(e.m.UserProperties) {
			t.Fatalf("re-encoding changed the message: %+v, then %+v", e.m, again.m)
		}
	})
}
