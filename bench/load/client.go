package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
	"github.com/openpubsub/pubsub/bench/wire"
)

// Target is the broker the clients connect to.
type Target struct {
	// Addr is the TCP address of the broker's MQTT over TLS listener.
	Addr string `json:"addr"`
	// ServerName is the TLS SNI name.
	ServerName string `json:"server_name"`
	// CertDER is the broker's leaf certificate. The client accepts exactly
	// that certificate instead of verifying a chain: the handshake (and
	// its signature, which the server pays for) is unchanged, and the
	// load generator saves a chain verification per connection.
	CertDER []byte `json:"cert_der"`
	// Resume lets clients resume TLS sessions (a ticket cache shared by
	// the worker's clients); off, every connection is a full handshake.
	Resume bool `json:"resume,omitempty"`
	// MLKEM makes clients offer X25519MLKEM768 before X25519.
	MLKEM bool `json:"mlkem,omitempty"`
	// SourceIPs are the local addresses connections are spread over, so
	// that no single address runs out of ephemeral ports.
	SourceIPs []string `json:"source_ips,omitempty"`
}

// ClientSpec is one client of a load: its credentials and its role.
type ClientSpec struct {
	ID       string `json:"id"`
	Password string `json:"pw,omitempty"`
	// Sub, when set, is subscribed to at SubQoS after CONNACK.
	Sub    string `json:"sub,omitempty"`
	SubQoS byte   `json:"sq,omitempty"`
	// Pub, when set, is the topic the client publishes to in a run.
	Pub    string `json:"pub,omitempty"`
	PubQoS byte   `json:"pq,omitempty"`
	// SSE subscribes over the node's HTTP edge (GET /events) instead of
	// MQTT; the password is sent as the Bearer token.
	SSE bool `json:"sse,omitempty"`
}

// Curves returns the key exchanges the clients offer.
func (t *Target) Curves() []tls.CurveID {
	if t.MLKEM {
		return []tls.CurveID{tls.X25519MLKEM768, tls.X25519}
	}
	return []tls.CurveID{tls.X25519}
}

// tlsConfig returns the client TLS configuration for t. TLS 1.3 only: the
// suite compares brokers on the protocol version devices use today.
func tlsConfig(t *Target) *tls.Config {
	cfg := &tls.Config{
		ServerName: t.ServerName,
		MinVersion: tls.VersionTLS13,
		// X25519 alone, as MQTT devices offer today (mbedTLS, wolfSSL,
		// OpenSSL 3.0 builds): Go would otherwise also offer the hybrid
		// post-quantum X25519MLKEM768, which Go servers pick and OpenSSL
		// 3.0 (mosquitto here) cannot, so the brokers would not do the
		// same handshake. -mlkem in the suite measures that one.
		CurvePreferences:   t.Curves(),
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, t.CertDER) {
				return errors.New("load: the server did not present the expected certificate")
			}
			return nil
		},
	}
	if t.Resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1 << 16)
	}
	return cfg
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT, so that binding a source
// address defers the choice of port to connect(), which can then reuse a
// port in TIME_WAIT towards another destination; without it every bound
// socket holds its port exclusively and a storm exhausts the range.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, 24 /* IP_BIND_ADDRESS_NO_PORT */, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Client is one raw MQTT v5 connection. Its reader goroutine counts and
// times deliveries, acknowledges QoS 1 ones and frees the publish window
// on PUBACK.
type Client struct {
	spec   ClientSpec
	conn   net.Conn
	rd     wire.Reader
	lat    *hist.Histogram
	window *Window

	wmu  sync.Mutex
	wbuf []byte

	// Counters, written by the reader goroutine (received) or the
	// publisher (sent), read by reports.
	sent, sentWin atomic.Uint64
	recv, recvWin atomic.Uint64
	lastRecv      atomic.Int64

	inflight chan struct{} // QoS 1 publish window: one token per unacked publish
	closing  atomic.Bool
	done     chan struct{} // closed when the reader ends
	discAt   atomic.Int64  // Unix ns when a server DISCONNECT arrived
	discCode atomic.Int32  // its reason code, -1 before
	readErr  error
}

// Window is the measurement window shared by a worker's clients, in Unix
// nanoseconds; deliveries outside it are counted but not timed.
type Window struct {
	Start, End atomic.Int64
}

func (w *Window) contains(ns int64) bool { return ns >= w.Start.Load() && ns < w.End.Load() }

// ConnectError is a refused CONNECT or SUBSCRIBE.
type ConnectError struct {
	Packet string
	Code   byte
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("%s refused with reason 0x%02x", e.Packet, e.Code)
}

// Dial connects one client: TCP from src, a TLS handshake, CONNECT and
// CONNACK, then SUBSCRIBE and SUBACK when the spec subscribes. The
// deliveries it receives are timed into lat during win.
func Dial(ctx context.Context, t *Target, cfg *tls.Config, src net.IP, spec ClientSpec, lat *hist.Histogram, win *Window) (*Client, error) {
	d := net.Dialer{Timeout: 15 * time.Second, Control: bindNoPort}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	raw, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	if spec.Pub != "" {
		// A small send buffer bounds what a saturating publisher queues in
		// the kernel, so the backlog of a saturated run drains in
		// milliseconds rather than seconds.
		_ = raw.(*net.TCPConn).SetWriteBuffer(64 << 10)
	}
	tc := tls.Client(raw, cfg)
	deadline := time.Now().Add(15 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = raw.SetDeadline(deadline)
	c := &Client{spec: spec, conn: tc, lat: lat, window: win, done: make(chan struct{})}
	c.discCode.Store(-1)
	c.rd = wire.Reader{R: bufio.NewReaderSize(tc, 16<<10), Max: 1 << 20}
	fail := func(err error) (*Client, error) {
		_ = raw.Close()
		return nil, err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(fmt.Errorf("tls: %w", err))
	}
	pkt := wire.AppendConnect(nil, wire.ConnectOptions{ClientID: spec.ID, Password: spec.Password, ReceiveMaximum: 1024})
	if _, err := tc.Write(pkt); err != nil {
		return fail(err)
	}
	typ, _, body, err := c.rd.Next()
	if err != nil {
		return fail(fmt.Errorf("reading CONNACK: %w", err))
	}
	if typ != wire.Connack {
		return fail(fmt.Errorf("expected CONNACK, got packet type %d", typ))
	}
	ack, err := wire.ParseConnack(body)
	if err != nil {
		return fail(err)
	}
	if ack.Reason >= 0x80 {
		return fail(&ConnectError{"CONNECT", ack.Reason})
	}
	if spec.Sub != "" {
		if _, err := tc.Write(wire.AppendSubscribe(nil, 1, spec.Sub, spec.SubQoS)); err != nil {
			return fail(err)
		}
		// The server may send matching publishes before the SUBACK
		// (MQTT v5 §3.8.4); they arrive before the run and are skipped.
		typ, _, body, err := c.rd.Next()
		for err == nil && typ == wire.Publish {
			typ, _, body, err = c.rd.Next()
		}
		if err != nil {
			return fail(fmt.Errorf("reading SUBACK: %w", err))
		}
		codes, err := wire.SubackReasons(body)
		if typ != wire.Suback || err != nil || len(codes) != 1 {
			return fail(fmt.Errorf("expected SUBACK, got packet type %d", typ))
		}
		if codes[0] >= 0x80 {
			return fail(&ConnectError{"SUBSCRIBE", codes[0]})
		}
	}
	if spec.Pub != "" && spec.PubQoS > 0 {
		c.inflight = make(chan struct{}, min(int(ack.ReceiveMaximum), 1024))
	}
	_ = raw.SetDeadline(time.Time{})
	go c.read()
	return c, nil
}

// write sends b whole; publishers and the reader's PUBACKs share the
// connection.
func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(b)
	return err
}

// read runs until the connection ends.
func (c *Client) read() {
	defer close(c.done)
	var acks []byte
	for {
		typ, flags, body, err := c.rd.Next()
		if err != nil {
			c.readErr = err
			return
		}
		switch typ {
		case wire.Publish:
			now := time.Now().UnixNano()
			p, err := wire.ParsePublish(flags, body)
			if err != nil {
				c.readErr = err
				return
			}
			c.recv.Add(1)
			c.lastRecv.Store(now)
			if c.window != nil && c.window.contains(now) {
				c.recvWin.Add(1)
				if ts, _, ok := wire.Stamp(p.Payload); ok && c.lat != nil {
					c.lat.Record(time.Duration(now - ts))
				}
			}
			if p.QoS > 0 {
				acks = wire.AppendPuback(acks, p.PacketID)
			}
		case wire.Puback:
			if c.inflight != nil {
				select {
				case <-c.inflight:
				default:
				}
			}
		case wire.Disconnect:
			c.discAt.Store(time.Now().UnixNano())
			c.discCode.Store(int32(wire.DisconnectReason(body)))
			return
		}
		// Acknowledge in batches: once nothing more is buffered, so a
		// burst of deliveries costs one write.
		if len(acks) > 0 && c.rd.R.Buffered() == 0 {
			if err := c.write(acks); err != nil {
				c.readErr = err
				return
			}
			acks = acks[:0]
		}
	}
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// ServerDisconnect returns when the server's DISCONNECT arrived and its
// reason code; ok is false when none did.
func (c *Client) ServerDisconnect() (at time.Time, code byte, ok bool) {
	v := c.discCode.Load()
	if v < 0 {
		return time.Time{}, 0, false
	}
	return time.Unix(0, c.discAt.Load()), byte(v), true
}

// Close sends DISCONNECT and closes the connection without waiting:
// a reset instead of a FIN handshake, so that a torn-down load leaves no
// TIME_WAIT behind to exhaust the ports of the next one.
func (c *Client) Close() {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	if !c.spec.SSE {
		_ = c.write(wire.AppendDisconnect(nil))
	}
	if tc, ok := c.conn.(*tls.Conn); ok {
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
	}
	_ = c.conn.Close()
}

// publish runs the client's publisher for one run: from start until end,
// at rate messages a second (0: as fast as the connection takes them),
// each payloadSize bytes with the stamp at its start.
func (c *Client) publish(start, end time.Time, rate float64, payloadSize int) {
	topic, qos := c.spec.Pub, c.spec.PubQoS
	payloadSize = max(payloadSize, wire.StampLen)
	tmpl := wire.AppendPublish(nil, topic, qos, 0, make([]byte, payloadSize))
	stampOff := len(tmpl) - payloadSize
	idOff := stampOff - 1 - 2 // packet id, then the empty property length
	// One write carries up to a TLS record's worth of messages.
	batchMax := max(1, 16<<10/len(tmpl))
	buf := make([]byte, 0, batchMax*len(tmpl))
	var tick time.Duration
	burst := batchMax
	if rate > 0 {
		tick = max(time.Duration(float64(time.Second)/rate), time.Millisecond)
		// A late wake-up catches up by at most two ticks' worth per write,
		// so that a paced run offers its rate evenly, not in bursts of a
		// record's worth.
		burst = min(batchMax, max(2, int(math.Ceil(2*rate*tick.Seconds()))))
		// Spread the publishers over one tick so they do not fire together.
		start = start.Add(time.Duration(fastrand(uint64(c.conn.LocalAddr().(*net.TCPAddr).Port)) % uint64(tick)))
	}
	time.Sleep(time.Until(start))
	// A broker that stops reading must not hold the run past its end.
	_ = c.conn.SetWriteDeadline(end.Add(2 * time.Second))
	defer c.conn.SetWriteDeadline(time.Time{})
	var seq uint64
	var pid uint16
	for {
		now := time.Now()
		if !now.Before(end) || c.closing.Load() {
			return
		}
		n := batchMax
		if rate > 0 {
			due := int(now.Sub(start).Seconds()*rate) + 1 - int(seq)
			if due <= 0 {
				time.Sleep(tick)
				continue
			}
			n = min(due, burst)
		}
		if c.inflight != nil {
			n = c.acquire(n, end)
			if n == 0 {
				continue
			}
		}
		buf = buf[:0]
		ts := time.Now().UnixNano()
		for i := 0; i < n; i++ {
			off := len(buf)
			buf = append(buf, tmpl...)
			if qos > 0 {
				pid++
				if pid == 0 {
					pid = 1
				}
				buf[off+idOff], buf[off+idOff+1] = byte(pid>>8), byte(pid)
			}
			wire.PutStamp(buf[off+stampOff:], ts, seq)
			seq++
		}
		if err := c.write(buf); err != nil {
			return
		}
		c.sent.Add(uint64(n))
		if c.window.contains(ts) {
			c.sentWin.Add(uint64(n))
		}
	}
}

// acquire takes up to n tokens of the QoS 1 window, waiting for the
// first one until end.
func (c *Client) acquire(n int, end time.Time) int {
	t := time.NewTimer(time.Until(end))
	defer t.Stop()
	select {
	case c.inflight <- struct{}{}:
	case <-t.C:
		return 0
	case <-c.done:
		time.Sleep(time.Until(end))
		return 0
	}
	got := 1
	for got < n {
		select {
		case c.inflight <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

// fastrand mixes x (splitmix64), for cheap deterministic jitter.
func fastrand(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
