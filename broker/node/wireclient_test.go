package node_test

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/bench/wire"
)

// wireConn is an MQTT v5 connection spoken packet by packet with the
// load tool's codec (bench/wire), for the benchmarks that time single
// packets or hold a thousand subscribers: no client library's goroutines
// and queues between the clock and the node. Its methods return errors
// rather than fail the test, so that reader goroutines may use them.
type wireConn struct {
	*tls.Conn
	rd  wire.Reader
	wmu sync.Mutex
}

// dialWire opens a TLS connection to the env's node, with host as SNI,
// and completes the handshake; nothing of MQTT is sent yet.
func (e *env) dialWire(host string) (*wireConn, error) {
	tc, err := e.dialTLS(host)
	if err != nil {
		return nil, err
	}
	if err := tc.Handshake(); err != nil {
		_ = tc.Close()
		return nil, err
	}
	return &wireConn{Conn: tc, rd: wire.Reader{R: bufio.NewReaderSize(tc, 16<<10), Max: 1 << 20}}, nil
}

// connectWire connects a client of broker id with a fresh token, and
// closes it when the test ends.
func (e *env) connectWire(id string) (*wireConn, error) {
	b := e.brokers[id]
	tok, claims := b.token(e.t, nil)
	w, err := e.dialWire(b.host)
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(w.reset)
	if err := w.connect(claims.Subject, tok); err != nil {
		return nil, err
	}
	return w, nil
}

// write sends b whole.
func (w *wireConn) write(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_, err := w.Write(b)
	return err
}

// sendConnect sends a clean-start CONNECT with tok as password.
func (w *wireConn) sendConnect(clientID, tok string) error {
	return w.write(wire.AppendConnect(nil, wire.ConnectOptions{ClientID: clientID, Password: tok, KeepAlive: 60}))
}

// readConnack reads the CONNACK and fails on a refusal.
func (w *wireConn) readConnack() error {
	typ, _, body, err := w.rd.Next()
	if err != nil {
		return fmt.Errorf("reading CONNACK: %w", err)
	}
	if typ != wire.Connack {
		return fmt.Errorf("got packet type %d, want CONNACK", typ)
	}
	ack, err := wire.ParseConnack(body)
	if err != nil {
		return err
	}
	if ack.Reason >= 0x80 {
		return fmt.Errorf("CONNACK reason %#x", ack.Reason)
	}
	return nil
}

func (w *wireConn) connect(clientID, tok string) error {
	if err := w.sendConnect(clientID, tok); err != nil {
		return err
	}
	return w.readConnack()
}

// subscribe subscribes to filter and reads until the SUBACK, skipping
// the publishes that come first.
func (w *wireConn) subscribe(packetID uint16, filter string, qos byte) error {
	if err := w.write(wire.AppendSubscribe(nil, packetID, filter, qos)); err != nil {
		return err
	}
	for {
		typ, _, body, err := w.rd.Next()
		if err != nil {
			return fmt.Errorf("reading SUBACK: %w", err)
		}
		if typ != wire.Suback {
			continue
		}
		codes, err := wire.SubackReasons(body)
		if err != nil || len(codes) != 1 || codes[0] >= 0x80 {
			return fmt.Errorf("SUBACK %v (%v)", codes, err)
		}
		return nil
	}
}

// appendUnsubscribe appends an UNSUBSCRIBE of one filter.
func appendUnsubscribe(dst []byte, packetID uint16, filter string) []byte {
	dst = append(dst, 0xA2)
	dst = wire.AppendVarint(dst, 2+1+2+len(filter))
	dst = binary.BigEndian.AppendUint16(dst, packetID)
	dst = append(dst, 0) // no properties
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(filter)))
	return append(dst, filter...)
}

// unsuback is the UNSUBACK packet type.
const unsuback = 11

// reset closes the connection with a reset, leaving no TIME_WAIT behind
// for the next thousand connections.
func (w *wireConn) reset() {
	if tcp, ok := w.NetConn().(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = w.SetWriteDeadline(time.Now().Add(time.Second))
	_ = w.Close()
}

// publishRetain sets the retain flag of the PUBLISH that starts b.
func publishRetain(b []byte) []byte {
	b[0] |= 0x01
	return b
}

// percentile returns the q-quantile (0 < q < 1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*q))]
}

// reportPercentiles reports p50, p99 and the maximum of lat in µs
// under the given prefix, and sorts lat.
func reportPercentiles(b *testing.B, prefix string, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), prefix+"p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), prefix+"p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), prefix+"max-µs")
}
