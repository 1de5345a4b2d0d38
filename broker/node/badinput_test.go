package node_test

import (
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker/node"
)

// stillServes checks that the node accepts a well-behaved client.
func stillServes(t *testing.T, e *env) {
	t.Helper()
	c, _ := e.mustConnect("a")
	if _, err := c.publish(t, "alive", 1, "yes"); err != nil {
		t.Fatalf("the node stopped serving: %v", err)
	}
}

func TestGarbageBeforeConnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	for _, tc := range []struct {
		name string
		host string
		data []byte
	}{
		// HTTP is answered on every port (edge_test.go); other bytes are not.
		{"TextWithSNI", e.brokers["a"].host, []byte("hello\r\n\r\n")},
		{"JSONWithoutSNI", "", []byte(`{"hello": 1}`)},
		{"ConnectHeaderGarbageBody", "", []byte{0x10, 0x05, 1, 2, 3, 4, 5}},
		{"ConnectHeaderGarbageBodySNI", e.brokers["a"].host, []byte{0x10, 0x05, 1, 2, 3, 4, 5}},
		{"EndlessLength", "", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"PublishFirst", e.brokers["a"].host, []byte{0x30, 0x03, 0, 1, 't'}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dialRaw(tc.host)
			if _, err := r.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			if got := readUntilClosed(t, r); len(got) != 0 {
				t.Errorf("the node answered % x", got)
			}
		})
	}
	stillServes(t, e)
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{ConnectTimeout: 200 * time.Millisecond}, "a")
	t.Run("AfterHandshake", func(t *testing.T) {
		for _, host := range []string{e.brokers["a"].host, ""} {
			r := e.dialRaw(host)
			start := time.Now()
			readUntilClosed(t, r)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("SNI %q: closed after %v, want about 200ms", host, d)
			}
		}
	})
	t.Run("NoHandshake", func(t *testing.T) {
		raw, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(waitFor))
		readUntilClosed(t, raw)
	})
	// A client that takes over 200 ms to shake hands and send CONNECT is
	// cut off too, as it should be, and under the race detector on a busy
	// machine a test client can be that slow: the node must still serve
	// one that is fast enough.
	eventually(t, "a client served after the timeouts", func() bool {
		tok, claims := e.brokers["a"].token(t, nil)
		c, _, err := e.connect(e.brokers["a"].host, claims.Subject, tok, nil)
		if err != nil {
			return false
		}
		_, err = c.publish(t, "alive", 1, "yes")
		return err == nil
	})
}

func TestOversizedPackets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxPacketSize: 1024}, "a")
	a := e.brokers["a"]
	t.Run("Publish", func(t *testing.T) {
		tok, claims := a.token(t, nil)
		r := e.dialRaw(a.host)
		if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
			t.Fatalf("CONNACK %#x", ack.ReasonCode)
		}
		// Only the fixed header: the node must refuse from it alone.
		if _, err := r.Write(append([]byte{0x30}, varint(2000)...)); err != nil {
			t.Fatal(err)
		}
		r.expectClosed(t, 0x95)
	})
	for _, host := range []string{a.host, ""} {
		t.Run("Connect/SNI="+host, func(t *testing.T) {
			r := e.dialRaw(host)
			// The node may close while the body is still being written, so
			// a failed write is expected too.
			_, _ = r.Write(append(append([]byte{0x10}, varint(5000)...), make([]byte, 5000)...))
			r.expectClosed(t, 0)
		})
	}
	if got := e.metric(`pubsub_disconnects_total{broker="` + a.host + `",reason="packet_too_large"}`); got != 1 {
		t.Errorf("packet_too_large disconnects = %d, want 1", got)
	}
	stillServes(t, e)
}

func TestMalformedPacketsAfterConnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	a := e.brokers["a"]
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"BadRemainingLength", []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"ReservedType", []byte{0xf0, 0x00}},
		{"SubscribeWithoutFilters", []byte{0x82, 0x03, 0x00, 0x01, 0x00}},
		// It used to panic mochi's reader, ending the whole node.
		{"SubscribeWithoutOptions", []byte{0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 'a'}},
		{"PublishQoS1WithoutPacketID", []byte{0x32, 0x04, 0x00, 0x01, 't', 0x00}},
		{"TopicLongerThanPacket", []byte{0x30, 0x03, 0x00, 0x09, 't'}},
		{"SecondConnect", v311Connect("x", "y")},
		{"InvalidUTF8Topic", []byte{0x30, 0x05, 0x00, 0x02, 0xff, 0xfe, 0x00}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, claims := a.token(t, nil)
			r := e.dialRaw(a.host)
			if ack := r.connectV5(t, claims.Subject, tok); ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#x", ack.ReasonCode)
			}
			if _, err := r.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			// The node may say why in a DISCONNECT; it must close.
			for {
				p, err := packets.ReadPacket(r)
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the node did not close the connection")
					}
					break
				}
				if d, ok := p.Content.(*packets.Disconnect); !ok || d.ReasonCode < 0x80 {
					t.Fatalf("got %v, want an error DISCONNECT or a close", p)
				}
			}
		})
	}
	stillServes(t, e)
}

func TestMessageRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MessageRate: 1, MessageBurst: 3}, "a")
	c, _ := e.mustConnect("a")
	// The burst, then the one publish past it, at QoS 0 so that the
	// client does not wait for the broker: a client that wrote on after
	// the DISCONNECT could fail its write and close before reading it.
	for i := 0; i < 4; i++ {
		_, _ = c.publish(t, "fast", 0, "x")
	}
	c.expectDisconnect(t, 0x96)
	stillServes(t, e)
}
