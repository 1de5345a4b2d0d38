package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// decodeMochi decodes one encoded packet with mochi's decoder, an
// independent implementation of the same specification.
func decodeMochi(t *testing.T, raw []byte) packets.Packet {
	t.Helper()
	var pk packets.Packet
	pk.ProtocolVersion = 5
	if err := pk.FixedHeader.Decode(raw[0]); err != nil {
		t.Fatalf("fixed header: %v", err)
	}
	rem, n := varint(raw[1:])
	if n == 0 || 1+n+rem != len(raw) {
		t.Fatalf("remaining length %d (%d bytes) does not match a packet of %d bytes", rem, n, len(raw))
	}
	pk.FixedHeader.Remaining = rem
	body := raw[1+n:]
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Subscribe:
		err = pk.SubscribeDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	if err != nil {
		t.Fatalf("mochi cannot decode %x: %v", raw, err)
	}
	return pk
}

func TestAppendConnect(t *testing.T) {
	tests := []struct {
		name string
		o    ConnectOptions
	}{
		{"Anonymous", ConnectOptions{ClientID: "c1"}},
		{"Token", ConnectOptions{ClientID: "dev-01", Username: "u", Password: strings.Repeat("t", 300), KeepAlive: 60, ReceiveMaximum: 100}},
		{"EmptyID", ConnectOptions{Password: "p"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk := decodeMochi(t, AppendConnect(nil, tc.o))
			c := pk.Connect
			if got, want := c.ClientIdentifier, tc.o.ClientID; got != want {
				t.Errorf("client id %q, want %q", got, want)
			}
			if got, want := string(c.Password), tc.o.Password; got != want {
				t.Errorf("password %q, want %q", got, want)
			}
			if got, want := string(c.Username), tc.o.Username; got != want {
				t.Errorf("username %q, want %q", got, want)
			}
			if got, want := c.Keepalive, tc.o.KeepAlive; got != want {
				t.Errorf("keepalive %d, want %d", got, want)
			}
			if !c.Clean {
				t.Error("clean start not set")
			}
			if got, want := pk.Properties.ReceiveMaximum, tc.o.ReceiveMaximum; got != want {
				t.Errorf("receive maximum %d, want %d", got, want)
			}
		})
	}
}

func TestAppendPublish(t *testing.T) {
	payload := bytes.Repeat([]byte{0xAB}, 256)
	for _, qos := range []byte{0, 1} {
		raw := AppendPublish(nil, "bench/topic/7", qos, 513, payload)
		if got, want := len(raw)-len(payload), PublishHeaderLen("bench/topic/7", qos, len(payload)); got != want {
			t.Errorf("QoS %d: header of %d bytes, PublishHeaderLen says %d", qos, got, want)
		}
		pk := decodeMochi(t, raw)
		if pk.TopicName != "bench/topic/7" || pk.FixedHeader.Qos != qos || !bytes.Equal(pk.Payload, payload) {
			t.Errorf("QoS %d: mochi decoded topic %q qos %d payload %d bytes", qos, pk.TopicName, pk.FixedHeader.Qos, len(pk.Payload))
		}
		if qos == 1 && pk.PacketID != 513 {
			t.Errorf("packet id %d, want 513", pk.PacketID)
		}
		// And our own parser reads it back.
		r := Reader{R: bufio.NewReader(bytes.NewReader(raw))}
		typ, flags, body, err := r.Next()
		if err != nil || typ != Publish {
			t.Fatalf("Next: type %d, err %v", typ, err)
		}
		p, err := ParsePublish(flags, body)
		if err != nil {
			t.Fatal(err)
		}
		if string(p.Topic) != "bench/topic/7" || p.QoS != qos || !bytes.Equal(p.Payload, payload) || (qos == 1 && p.PacketID != 513) {
			t.Errorf("QoS %d: parsed %+v", qos, p)
		}
	}
}

func TestParsePublishFromMochi(t *testing.T) {
	// A delivery as mochi encodes it, with properties our encoder never
	// writes (a subscription identifier and a user property).
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1},
		ProtocolVersion: 5,
		TopicName:       "a/b",
		PacketID:        9,
		Payload:         []byte("hello"),
		Properties: packets.Properties{
			SubscriptionIdentifier: []int{3},
			User:                   []packets.UserProperty{{Key: "k", Val: "v"}},
		},
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	r := Reader{R: bufio.NewReader(&buf)}
	_, flags, body, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePublish(flags, body)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Topic) != "a/b" || p.PacketID != 9 || string(p.Payload) != "hello" || p.QoS != 1 {
		t.Errorf("parsed %+v", p)
	}
}

func TestSubscribePubackDisconnect(t *testing.T) {
	pk := decodeMochi(t, AppendSubscribe(nil, 7, "bench/+/x", 1))
	if pk.PacketID != 7 || len(pk.Filters) != 1 || pk.Filters[0].Filter != "bench/+/x" || pk.Filters[0].Qos != 1 {
		t.Errorf("SUBSCRIBE decoded as %+v", pk)
	}
	if pk := decodeMochi(t, AppendPuback(nil, 65535)); pk.PacketID != 65535 {
		t.Errorf("PUBACK id %d", pk.PacketID)
	}
	if pk := decodeMochi(t, AppendDisconnect(nil)); pk.ReasonCode != 0 {
		t.Errorf("DISCONNECT reason %d", pk.ReasonCode)
	}
}

func TestParseConnack(t *testing.T) {
	tests := []struct {
		name       string
		pk         packets.Packet
		wantReason byte
		wantRM     uint16
	}{
		{"OK", packets.Packet{Properties: packets.Properties{ReceiveMaximum: 256, TopicAliasMaximum: 64, AssignedClientID: "x", ServerKeepAlive: 60, ServerKeepAliveFlag: true, MaximumPacketSize: 65536}}, 0, 256},
		{"Defaults", packets.Packet{}, 0, 65535},
		{"Refused", packets.Packet{ReasonCode: 0x87, Properties: packets.Properties{ReasonString: "no"}}, 0x87, 65535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pk.FixedHeader.Type = packets.Connack
			tc.pk.ProtocolVersion = 5
			var buf bytes.Buffer
			if err := tc.pk.ConnackEncode(&buf); err != nil {
				t.Fatal(err)
			}
			r := Reader{R: bufio.NewReader(&buf)}
			typ, _, body, err := r.Next()
			if err != nil || typ != Connack {
				t.Fatalf("type %d err %v", typ, err)
			}
			c, err := ParseConnack(body)
			if err != nil {
				t.Fatal(err)
			}
			if c.Reason != tc.wantReason || c.ReceiveMaximum != tc.wantRM {
				t.Errorf("got %+v, want reason 0x%02x receive maximum %d", c, tc.wantReason, tc.wantRM)
			}
		})
	}
}

func TestVarint(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemaining} {
		b := AppendVarint(nil, n)
		if len(b) != VarintLen(n) {
			t.Errorf("%d: %d bytes, VarintLen says %d", n, len(b), VarintLen(n))
		}
		if v, k := varint(b); v != n || k != len(b) {
			t.Errorf("%d: decoded %d in %d bytes", n, v, k)
		}
	}
	if _, k := varint([]byte{0xff, 0xff, 0xff, 0xff, 0x01}); k != 0 {
		t.Error("a five-byte varint was accepted")
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		max  int
		want error
	}{
		{"ErrMalformed", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, ErrMalformed},
		{"ErrTooLarge", []byte{0x30, 0x80, 0x01}, 100, ErrTooLarge},
		{"ErrUnexpectedEOF", []byte{0x30, 0x05, 1, 2}, 0, io.ErrUnexpectedEOF},
		{"EOF", nil, 0, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Reader{R: bufio.NewReader(bytes.NewReader(tc.raw)), Max: tc.max}
			if _, _, _, err := r.Next(); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	for _, body := range [][]byte{nil, {0}, {0, 5, 'a'}, {0, 1, 'a', 0x80}} {
		if _, err := ParsePublish(0, body); err == nil {
			t.Errorf("ParsePublish(%x) succeeded", body)
		}
	}
	if _, err := ParsePublish(2, []byte{0, 1, 'a', 0}); err == nil {
		t.Error("a QoS 1 publish without packet id was accepted")
	}
	for _, body := range [][]byte{nil, {0}, {0, 0, 5, 0x21}, {0, 0, 2, 0x21, 0}, {0, 0, 1, 0x7f}} {
		if _, err := ParseConnack(body); err == nil {
			t.Errorf("ParseConnack(%x) succeeded", body)
		}
	}
}

func TestStamp(t *testing.T) {
	p := make([]byte, 256)
	PutStamp(p, 1_700_000_000_123_456_789, 42)
	ns, seq, ok := Stamp(p)
	if !ok || ns != 1_700_000_000_123_456_789 || seq != 42 {
		t.Errorf("Stamp = %d, %d, %v", ns, seq, ok)
	}
	if _, _, ok := Stamp(p[:StampLen-1]); ok {
		t.Error("a short payload has a stamp")
	}
}

func BenchmarkReadPublish(b *testing.B) {
	one := AppendPublish(nil, "bench/1", 0, 0, make([]byte, 256))
	stream := bytes.Repeat(one, 1000)
	br := bytes.NewReader(stream)
	r := Reader{R: bufio.NewReaderSize(br, 32<<10)}
	b.ReportAllocs()
	b.SetBytes(int64(len(one)))
	for b.Loop() {
		_, flags, body, err := r.Next()
		if err == io.EOF {
			br.Reset(stream)
			r.R.Reset(br)
			continue
		}
		if _, err := ParsePublish(flags, body); err != nil {
			b.Fatal(err)
		}
	}
}
