package node_test

import (
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker/node"
)

// ack encodes the PUBACK or PUBREC (typ) the node sends with an error
// reason code: the code and its Reason String, no other property.
func ack(typ byte, id uint16, code byte, reason string) []byte {
	props := append([]byte{0x1f, byte(len(reason) >> 8), byte(len(reason))}, reason...)
	body := append(append([]byte{byte(id >> 8), byte(id), code}, varint(len(props))...), props...)
	return append(append([]byte{typ << 4}, varint(len(body))...), body...)
}

// TestTopicLevels checks the limit on topic levels at every door: PUBLISH
// (an ack with 0x90, or DISCONNECT 0x90 at QoS 0), SUBSCRIBE (SUBACK
// 0x8F), the will topic (CONNACK 0x90) and the HTTP edge (400).
func TestTopicLevels(t *testing.T) {
	t.Parallel()
	const max = 4
	e := newEnv(t, node.Limits{MaxTopicLevels: max}, "a")
	a := e.brokers["a"]
	atMax, overMax := "a/b/c/d", "a/b/c/d/e"
	const tooMany = "topic name has more levels than the server allows"
	open := func(t *testing.T) *rawConn {
		tok, claims := a.token(t, nil)
		r := e.dialRaw(a.host)
		if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		return r
	}
	send := func(t *testing.T, r *rawConn, b []byte) {
		if _, err := r.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Publish", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, atMax, nil, "x"))
		r.expect(t, "PUBACK at the limit", []byte{0x40, 0x02, 0x00, 0x01})
		send(t, r, rawPublish(1, 2, overMax, nil, "x"))
		r.expect(t, "PUBACK over the limit", ack(4, 2, 0x90, tooMany))
		send(t, r, rawPublish(2, 3, overMax, topicAlias(1), "x"))
		r.expect(t, "PUBREC over the limit", ack(5, 3, 0x90, tooMany))
		// The alias of the refused publish was not set.
		send(t, r, rawPublish(0, 0, "", topicAlias(1), "x"))
		r.expect(t, "DISCONNECT", disconnect(0x82, "protocol violation: no topic or alias"))
		r.expectEOF(t)
	})
	t.Run("PublishQoS0", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(0, 0, overMax, nil, "x"))
		r.expect(t, "DISCONNECT", disconnect(0x90, tooMany))
		r.expectEOF(t)
	})
	t.Run("Subscribe", func(t *testing.T) {
		r := open(t)
		for _, tc := range []struct {
			filter string
			code   byte
		}{
			{"a/b/c/#", 0x00},
			{"a/b/c/d/#", 0x8f},
			{"+/+/+/+/+", 0x8f},
			{"$share/g/a/b/c/d", 0x00},
			{"$share/g/a/b/c/d/e", 0x8f},
		} {
			send(t, r, rawSubscribe(tc.filter))
			r.expect(t, "SUBACK for "+tc.filter, []byte{0x90, 0x04, 0x00, 0x01, 0x00, tc.code})
		}
	})
	t.Run("Will", func(t *testing.T) {
		tok, claims := a.token(t, nil)
		r := e.dialRaw(a.host)
		ack := r.connectV5With(t, claims.Subject, tok, func(c *packets.Connect) {
			c.WillFlag, c.WillTopic, c.WillMessage = true, overMax, []byte("x")
		})
		if ack.ReasonCode != 0x90 {
			t.Fatalf("CONNACK %#x, want 0x90", ack.ReasonCode)
		}
	})
	t.Run("HTTP", func(t *testing.T) {
		tok, _ := a.token(t, nil)
		if status, _, body := e.request("POST", "a", "/events?topic="+overMax, tok, "x", nil); status != 400 || !strings.Contains(body, "at most 4") {
			t.Errorf("publish: %d %s, want 400", status, body)
		}
		if _, status, body := e.trySSE("a", "topic="+strings.ReplaceAll(overMax, "e", "%23"), tok, nil); status != 400 || !strings.Contains(body, "at most 4") {
			t.Errorf("SSE: %d %s, want 400", status, body)
		}
		e.publishHTTP("a", tok, "topic="+atMax, "x")
	})
	stillServes(t, e)
}
