package e2e

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// pahoConn is the connection to give paho: one that keeps each MQTT
// packet's writes together. Paho writes a PUBLISH in several Write calls
// (fixed header, topic and packet id, properties, payload) and holds the
// connection's lock across them only when the connection is a
// sync.Locker; its pinger sends a PINGREQ from another goroutine, the
// first right after CONNECT. On a bare *tls.Conn that PINGREQ could land
// between a PUBLISH's header and its payload, and the node rightly read
// "\xc0\x00pro" as the payload of a 5-byte "probe" (TestFleetProcesses
// once failed so). Connections that are lockers already (wsConn) are
// kept as they are.
func pahoConn(c net.Conn) net.Conn {
	if _, ok := c.(sync.Locker); ok {
		return c
	}
	return packets.NewThreadSafeConn(c)
}

// TestPahoConnKeepsPacketsWhole writes PUBLISH packets and PINGREQs
// from two goroutines through pahoConn, as paho's publisher and pinger
// do, and checks that the other end reads every PUBLISH whole. Through
// the bare connection, the PINGREQs get inside the PUBLISH packets.
func TestPahoConnKeepsPacketsWhole(t *testing.T) {
	const n = 200
	client, server := net.Pipe()
	defer server.Close()
	conn := pahoConn(yieldingConn{client})
	defer conn.Close()

	errs := make(chan error, 2)
	go func() {
		for i := range n {
			pk := &packets.Publish{Topic: "back/1", QoS: 1, PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "probe-%d", i), Properties: &packets.Properties{}}
			if _, err := pk.WriteTo(conn); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	go func() {
		for range n {
			if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(conn); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()

	publishes, pings := 0, 0
	for publishes+pings < 2*n {
		cp, err := packets.ReadPacket(server)
		if err != nil {
			t.Fatalf("after %d PUBLISH and %d PINGREQ, the next packet is malformed: %v", publishes, pings, err)
		}
		switch p := cp.Content.(type) {
		case *packets.Publish:
			if want := fmt.Appendf(nil, "probe-%d", publishes); p.Topic != "back/1" || !bytes.Equal(p.Payload, want) {
				t.Fatalf("PUBLISH %d read as %q on %q, want %q on back/1", publishes, p.Payload, p.Topic, want)
			}
			publishes++
		case *packets.Pingreq:
			pings++
		default:
			t.Fatalf("after %d PUBLISH and %d PINGREQ: read a packet of type %d", publishes, pings, cp.Type)
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// yieldingConn lets other goroutines run before each write, as a write
// that waits for the network does.
type yieldingConn struct{ net.Conn }

func (c yieldingConn) Write(p []byte) (int, error) {
	runtime.Gosched()
	return c.Conn.Write(p)
}
