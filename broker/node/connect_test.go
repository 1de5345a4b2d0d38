package node

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/token"
)

// encodeConnect builds a v5 CONNECT with mochi's encoder, the reference.
func encodeConnect(t testing.TB, edit func(*packets.Packet)) []byte {
	t.Helper()
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: 5,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            true,
			Keepalive:        30,
			ClientIdentifier: "client",
			PasswordFlag:     true,
			Password:         []byte("secret"),
		},
	}
	if edit != nil {
		edit(&pk)
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseConnect(t *testing.T) {
	full := encodeConnect(t, func(pk *packets.Packet) {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = "will/topic"
		pk.Connect.WillPayload = []byte("bye")
		pk.Connect.WillProperties.WillDelayInterval = 5
		pk.Connect.UsernameFlag = true
		pk.Connect.Username = []byte("anything")
		pk.Properties.SessionExpiryInterval = 60
		pk.Properties.SessionExpiryIntervalFlag = true
		pk.Connect.Password = []byte(`"tok"`)
	})
	noPassword := encodeConnect(t, func(pk *packets.Packet) { pk.Connect.PasswordFlag, pk.Connect.Password = false, nil })
	for _, tc := range []struct {
		name     string
		pkt      []byte
		version  byte
		password string
		err      error
	}{
		{"Minimal", encodeConnect(t, nil), 5, "secret", nil},
		{"WillUsernameProperties", full, 5, `"tok"`, nil},
		{"NoPassword", noPassword, 5, "", nil},
		{"MQTT311", []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0}, 4, "", nil},
		{"MQTT31", []byte{0x10, 0x0e, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 30, 0, 0}, 3, "", nil},
		{"ErrNotConnect", []byte{0x30, 0x00}, 0, "", errNotConnect},
		{"ErrLengthMismatch", append(encodeConnect(t, nil), 0), 0, "", errMalformed},
		{"ErrTruncated", encodeConnect(t, nil)[:10], 0, "", errMalformed},
		{"ErrWrongName", []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'X', 5, 2, 0, 30, 0, 0}, 0, "", errMalformed},
		{"ErrReservedFlag", []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 5, 3, 0, 30, 0, 0, 0}, 0, "", errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseConnect(tc.pkt)
			if !errors.Is(err, tc.err) {
				t.Fatalf("parseConnect error = %v, want %v", err, tc.err)
			}
			if got, want := info.Version, tc.version; got != want {
				t.Errorf("Version = %d, want %d", got, want)
			}
			if got := string(info.Password); got != tc.password {
				t.Errorf("Password = %q, want %q", got, tc.password)
			}
		})
	}
}

func TestReadConnect(t *testing.T) {
	pkt := encodeConnect(t, nil)
	for _, tc := range []struct {
		name string
		in   []byte
		max  uint32
		want []byte
		err  error
	}{
		{"OK", append(append([]byte{}, pkt...), 0xc0, 0x00), 1024, pkt, nil},
		{"ErrTooLarge", pkt, uint32(len(pkt) - 1), nil, errTooLarge},
		{"ErrNotConnect", []byte("GET / HTTP/1.1\r\n"), 1024, nil, errNotConnect},
		{"ErrLengthTooLong", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, 1 << 30, nil, errMalformed},
		{"ErrShort", pkt[:len(pkt)-1], 1024, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.in)
			got, err := readConnect(r, tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("readConnect error = %v, want %v", err, tc.err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("readConnect = % x, want % x", got, tc.want)
			}
			if tc.err == nil && r.Len() != 2 {
				t.Errorf("readConnect read past the packet: %d bytes left, want 2", r.Len())
			}
		})
	}
}

func TestConnackPacket(t *testing.T) {
	if got, want := connackPacket(4, 0x84, "ignored"), []byte{0x20, 2, 0, 1}; !bytes.Equal(got, want) {
		t.Errorf("v3 CONNACK = % x, want % x", got, want)
	}
	long := string(bytes.Repeat([]byte("r"), 300))
	for _, reason := range []string{"bad token", long} {
		b := connackPacket(5, 0x86, reason)
		var pk packets.Packet
		if err := pk.FixedHeader.Decode(b[0]); err != nil {
			t.Fatal(err)
		}
		pk.ProtocolVersion = 5
		if err := pk.ConnackDecode(b[2:]); err != nil {
			t.Fatalf("mochi cannot decode our CONNACK: %v", err)
		}
		if got, want := int(b[1]), len(b)-2; got != want {
			t.Errorf("remaining length = %d, want %d", got, want)
		}
		if pk.ReasonCode != 0x86 || pk.Properties.ReasonString == "" {
			t.Errorf("decoded CONNACK = code %#x reason %q", pk.ReasonCode, pk.Properties.ReasonString)
		}
	}
}

func TestFramer(t *testing.T) {
	pub := func(n int) []byte { // a PUBLISH of n bytes in all, n < 130
		return append([]byte{0x30, byte(n - 2)}, make([]byte, n-2)...)
	}
	stream := append(append(pub(100), pub(20)...), 0xc0, 0x00)
	for _, tc := range []struct {
		name string
		in   []byte
		max  uint32
		err  error
	}{
		{"UnderLimit", stream, 100, nil},
		{"ErrOneOverLimit", stream, 99, errTooLarge},
		{"ErrHeaderAnnouncesTooMuch", []byte{0x30, 0x80, 0x80, 0x01}, 1 << 14, errTooLarge},
		{"ErrLengthOfFiveBytes", []byte{0x30, 0xff, 0xff, 0xff, 0xff}, 1 << 30, errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Byte by byte and in one piece give the same answer.
			var whole, split framer
			err := whole.scan(tc.in, tc.max)
			var serr error
			for i := range tc.in {
				if serr = split.scan(tc.in[i:i+1], tc.max); serr != nil {
					break
				}
			}
			if !errors.Is(err, tc.err) || !errors.Is(serr, tc.err) {
				t.Errorf("scan = %v (whole), %v (split); want %v", err, serr, tc.err)
			}
		})
	}
}

// newTestSession returns a session with the given ACL claims.
func newTestSession(t testing.TB, topicACL, publishACL, subscribeACL []string) *session {
	t.Helper()
	g, err := broker.NewGrant(&broker.Broker{ID: "b"}, &token.Claims{Subject: "c", ID: "j", TopicACL: topicACL, PublishACL: publishACL, SubscribeACL: subscribeACL}, "kid")
	if err != nil {
		t.Fatal(err)
	}
	return newSession(nil, nil, g)
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	s := newTestSession(t, []string{"room/#", "hall/+/x"}, []string{"room/+/out"}, nil)
	c := &conn{}
	c.sess.Store(s)
	h := &hook{srv: &server{node: &Node{}}} // a node without State: no on-publish hook
	cl := newTestClient(c)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "room/1/out"}
	if n := testing.AllocsPerRun(100, func() {
		if !s.canPublish("room/1/out") || !s.canSubscribe("room/1/in") {
			t.Fatal("denied")
		}
		if err := h.OnPublishInPlace(cl, &pk); err != nil {
			t.Fatal(err)
		}
		if !h.OnACLCheck(cl, "room/2/x", false) {
			t.Fatal("delivery denied")
		}
	}); n != 0 {
		t.Errorf("the ACL checks allocate %v times per run, want 0", n)
	}
}

func TestRateLimiter(t *testing.T) {
	s := &session{}
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		if !s.allowPublish(now, 1, 3) {
			t.Fatalf("publish %d of the burst refused", i)
		}
	}
	if s.allowPublish(now, 1, 3) {
		t.Fatal("publish beyond the burst allowed")
	}
	if !s.allowPublish(now.Add(time.Second), 1, 3) {
		t.Fatal("publish after a refill refused")
	}
}

func FuzzParseConnect(f *testing.F) {
	f.Add(encodeConnect(f, nil))
	f.Add(encodeConnect(f, func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, "w", []byte("p")
		pk.Connect.UsernameFlag, pk.Connect.Username = true, []byte("u")
	}))
	f.Add([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4096
		pkt, err := readConnect(bytes.NewReader(data), max)
		if err != nil {
			return
		}
		if len(pkt) > max || len(pkt) > len(data) || !bytes.Equal(pkt, data[:len(pkt)]) {
			t.Fatalf("readConnect returned %d bytes that are not a prefix of the input", len(pkt))
		}
		info, err := parseConnect(pkt)
		if err != nil {
			return
		}
		// The password routing sees must be the one mochi will verify.
		var fh packets.FixedHeader
		_ = fh.Decode(pkt[0])
		body := pkt[1:]
		for body[0]&0x80 != 0 {
			body = body[1:]
		}
		mk := packets.Packet{FixedHeader: fh}
		if mk.ConnectDecode(append([]byte{}, body[1:]...)) == nil && mk.ProtocolVersion == 5 {
			if mk.ProtocolVersion != info.Version || !bytes.Equal(mk.Connect.Password, info.Password) {
				t.Fatalf("parseConnect says version %d password %q; mochi says %d %q",
					info.Version, info.Password, mk.ProtocolVersion, mk.Connect.Password)
			}
		}
		_, _ = token.PeekAudience(broker.CleanToken(string(info.Password)))
	})
}

func FuzzFramer(f *testing.F) {
	f.Add([]byte{0x30, 0x02, 0, 0, 0xc0, 0x00}, uint16(100), uint8(1))
	f.Add([]byte{0x30, 0x80, 0x80, 0x01}, uint16(1000), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, max uint16, chunk uint8) {
		var whole, split framer
		err := whole.scan(data, uint32(max))
		var serr error
		step := int(chunk%16) + 1
		for i := 0; i < len(data) && serr == nil; i += step {
			serr = split.scan(data[i:min(i+step, len(data))], uint32(max))
		}
		if !errors.Is(err, serr) && !errors.Is(serr, err) {
			t.Fatalf("scan in one piece = %v, in chunks of %d = %v", err, step, serr)
		}
	})
}

// FuzzTokenPassword runs what OnConnect does with a password, up to the
// claims: it must never panic, and only a token this broker signed for
// its hostname gets through.
func FuzzTokenPassword(f *testing.F) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	kid := token.Thumbprint(pub)
	keys := token.Keys{kid: pub}
	const host = "a.ns.example.com"
	now := time.Now()
	tok, err := token.Sign(priv, kid, &token.Claims{Subject: "c", ID: "j", Audience: host, IssuedAt: now.Unix(), TopicACL: []string{"#"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(tok))
	f.Add([]byte(`"` + tok + `"`))
	f.Add([]byte("a.b.c"))
	f.Fuzz(func(t *testing.T, pw []byte) {
		s := broker.CleanToken(string(pw))
		if aud, err := token.PeekAudience(s); err == nil && aud == "" {
			t.Fatal("PeekAudience accepted a token without audience")
		}
		u, err := token.Parse(s)
		if err != nil {
			return
		}
		c, err := u.Verify(keys, host, now, time.Minute)
		if err != nil {
			return
		}
		if c.Audience != host || u.KeyID() != kid {
			t.Fatalf("verified a token for %q signed by %q", c.Audience, u.KeyID())
		}
		if _, err := broker.NewGrant(&broker.Broker{ID: "b"}, c, kid); err != nil {
			t.Fatalf("verified claims do not compile: %v", err)
		}
	})
}

func TestCanReceiveRemembersOnlyWhatItAllowed(t *testing.T) {
	s := newTestSession(t, []string{"room/#"}, nil, []string{"room/+/in"})
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"room/1/in", true},
		{"room/1/in", true}, // remembered
		{"room/1/out", false},
		{"room/1/out", false}, // a refusal is not remembered as allowed
		{"hall/1/in", false},
		{"$SYS/broker", false},
		{"room/2/in", true},
		{"room/1/in", true},
	} {
		if got := s.canReceive(tc.name); got != tc.want {
			t.Errorf("canReceive(%q) = %v, want %v", tc.name, got, tc.want)
		}
		if got := s.canSubscribe(tc.name); got != tc.want {
			t.Errorf("canSubscribe(%q) = %v, canReceive must agree", tc.name, got)
		}
	}
}
