package node_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/token"
)

// These tests speak MQTT v5 byte by byte over TLS and compare the exact
// bytes of each ack and DISCONNECT the node sends, as a strict client
// would read them.

// rawPacket reads one packet's bytes: its fixed header, remaining length
// and body.
func (r *rawConn) rawPacket(t testing.TB) []byte {
	t.Helper()
	var pk []byte
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		t.Fatalf("read packet: %v", err)
	}
	pk = append(pk, b[0])
	n, shift := 0, 0
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			t.Fatalf("read remaining length: %v", err)
		}
		pk = append(pk, b[0])
		n |= int(b[0]&0x7f) << shift
		shift += 7
		if b[0]&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatalf("read body: %v", err)
	}
	return append(pk, body...)
}

// expect reads one packet and fails unless its bytes are want.
func (r *rawConn) expect(t testing.TB, what string, want []byte) {
	t.Helper()
	if got := r.rawPacket(t); !bytes.Equal(got, want) {
		t.Fatalf("%s: got % x, want % x", what, got, want)
	}
}

// expectEOF reads until the node closes the connection, which must come
// without more bytes, as a close and not a reset.
func (r *rawConn) expectEOF(t testing.TB) {
	t.Helper()
	var b [64]byte
	n, err := r.Read(b[:])
	if n > 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: read % x, %v; want EOF", b[:n], err)
	}
}

// rawPublish encodes a v5 PUBLISH with the given properties (already
// encoded, without their length).
func rawPublish(qos byte, id uint16, topic string, props []byte, payload string) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	if qos > 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	body = append(body, varint(len(props))...)
	body = append(body, props...)
	body = append(body, payload...)
	return append(append([]byte{0x30 | qos<<1}, varint(len(body))...), body...)
}

// topicAlias encodes a Topic Alias property.
func topicAlias(a uint16) []byte { return []byte{0x23, byte(a >> 8), byte(a)} }

// disconnect encodes the DISCONNECT the node sends: a reason code and a
// Reason String.
func disconnect(code byte, reason string) []byte {
	props := append([]byte{0x1f, byte(len(reason) >> 8), byte(len(reason))}, reason...)
	body := append(append([]byte{code}, varint(len(props))...), props...)
	return append(append([]byte{0xe0}, varint(len(body))...), body...)
}

// rawSubscribe encodes a v5 SUBSCRIBE of one filter at QoS 0, id 1.
func rawSubscribe(filter string) []byte {
	body := []byte{0, 1, 0, byte(len(filter) >> 8), byte(len(filter))}
	body = append(body, filter...)
	body = append(body, 0)
	return append(append([]byte{0x82}, varint(len(body))...), body...)
}

func TestStrictV5(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{ReceiveMaximum: 2}, "a")
	a := e.brokers["a"]
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
	userProp := []byte{0x26, 0, 1, 'k', 0, 1, 'v'}

	t.Run("AcksWithoutUserProperties", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, "t", userProp, "x"))
		r.expect(t, "PUBACK", []byte{0x40, 0x02, 0x00, 0x01})
		send(t, r, rawPublish(2, 2, "t", userProp, "x"))
		r.expect(t, "PUBREC", []byte{0x50, 0x02, 0x00, 0x02})
		send(t, r, []byte{0x62, 0x02, 0x00, 0x02}) // PUBREL
		r.expect(t, "PUBCOMP", []byte{0x70, 0x02, 0x00, 0x02})
	})
	t.Run("TopicAliasZero", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, "t", topicAlias(0), "x"))
		r.expect(t, "DISCONNECT", disconnect(0x94, "topic alias invalid"))
		r.expectEOF(t)
	})
	t.Run("TopicAliasZeroWithoutTopic", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, "", topicAlias(0), "x"))
		r.expect(t, "DISCONNECT", disconnect(0x94, "topic alias invalid"))
		r.expectEOF(t)
	})
	t.Run("UnknownTopicAlias", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, "", topicAlias(5), "x"))
		r.expect(t, "DISCONNECT", disconnect(0x82, "protocol violation: no topic or alias"))
		r.expectEOF(t)
	})
	t.Run("KnownTopicAlias", func(t *testing.T) {
		r := open(t)
		send(t, r, rawPublish(1, 1, "t", topicAlias(5), "x"))
		r.expect(t, "PUBACK", []byte{0x40, 0x02, 0x00, 0x01})
		send(t, r, rawPublish(1, 2, "", topicAlias(5), "x"))
		r.expect(t, "PUBACK", []byte{0x40, 0x02, 0x00, 0x02})
	})
	t.Run("WildcardInsideLevel", func(t *testing.T) {
		r := open(t)
		for _, f := range []string{"public/a+", "public/a#", "public/+a", "public/#/a"} {
			send(t, r, rawSubscribe(f))
			r.expect(t, "SUBACK for "+f, []byte{0x90, 0x04, 0x00, 0x01, 0x00, 0x8f})
		}
		send(t, r, rawSubscribe("public/+/#"))
		r.expect(t, "SUBACK", []byte{0x90, 0x04, 0x00, 0x01, 0x00, 0x00})
	})
	t.Run("ReceiveMaximumExceeded", func(t *testing.T) {
		r := open(t)
		// Three QoS 2 publishes without PUBREL exceed the Receive Maximum
		// of 2, and more data follows that the node will not read: it must
		// still close so that the client reads the DISCONNECT.
		var b []byte
		for id := uint16(1); id <= 3; id++ {
			b = append(b, rawPublish(2, id, "t", nil, "x")...)
		}
		filler := rawPublish(0, 0, "t", nil, strings.Repeat("f", 1000))
		for len(b) < 128<<10 {
			b = append(b, filler...)
		}
		// The client reads only once its write ends: the node stops
		// reading, so the write may last until the node closes.
		_, _ = r.Write(b)
		r.expect(t, "PUBREC 1", []byte{0x50, 0x02, 0x00, 0x01})
		r.expect(t, "PUBREC 2", []byte{0x50, 0x02, 0x00, 0x02})
		r.expect(t, "DISCONNECT", disconnect(0x93, "receive maximum exceeded"))
		r.expectEOF(t)
		// The TCP stream must end with a FIN, not a reset: a reset makes
		// the client's system drop what it has not yet read, the
		// DISCONNECT among it, as soon as it arrives.
		var buf [64]byte
		if n, err := r.NetConn().Read(buf[:]); n > 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("TCP after the DISCONNECT: read % x, %v; want EOF", buf[:n], err)
		}
	})
	stillServes(t, e)
}

// TestUpperCaseShareIsNotShared checks that only "$share" starts a shared
// subscription (topics are case sensitive, MQTT v5 §4.8.2): a token
// allowed "$SHARE/g/#", a plain filter, must not read secret/x through
// "$SHARE/g/secret/#", which mochi used to take for a shared subscription
// to secret/#.
func TestUpperCaseShareIsNotShared(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	tok, claims := a.token(t, func(c *token.Claims) { c.TopicACL = []string{"$SHARE/g/#", "marker"} })
	c, _, err := e.connect(a.host, claims.Subject, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"$SHARE/g/secret/#", "marker"} {
		if _, err := c.subscribe(t, f, 1); err != nil {
			t.Fatalf("subscribe %s: %v", f, err)
		}
	}
	pub, _ := e.mustConnect("a")
	for _, topic := range []string{"secret/x", "marker"} {
		if _, err := pub.publish(t, topic, 1, topic); err != nil {
			t.Fatal(err)
		}
	}
	c.expectNoMessageBefore(t, "marker")
}
