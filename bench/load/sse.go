package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
	"github.com/openpubsub/pubsub/bench/wire"
)

// DialSSE subscribes to spec.Sub over the node's HTTP edge: GET /events
// with the token as Bearer credentials, on the same port and TLS as MQTT
// (the node tells HTTP by ALPN). The stream's reader counts and times
// deliveries as an MQTT subscriber's does.
func DialSSE(ctx context.Context, t *Target, cfg *tls.Config, src net.IP, spec ClientSpec, lat *hist.Histogram, win *Window) (*Client, error) {
	d := net.Dialer{Timeout: 15 * time.Second, Control: bindNoPort}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	raw, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	deadline := time.Now().Add(15 * time.Second)
	_ = raw.SetDeadline(deadline)
	fail := func(err error) (*Client, error) {
		_ = raw.Close()
		return nil, err
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(fmt.Errorf("tls: %w", err))
	}
	req := "GET /events?topic=" + url.QueryEscape(spec.Sub) + " HTTP/1.1\r\nHost: " + t.ServerName +
		"\r\nAuthorization: Bearer " + spec.Password + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := tc.Write([]byte(req)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(tc, 16<<10)
	status, err := br.ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("reading the response: %w", err))
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		return fail(fmt.Errorf("GET /events: %s", strings.TrimSpace(status)))
	}
	chunked := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Transfer-Encoding") && strings.Contains(strings.ToLower(v), "chunked") {
			chunked = true
		}
	}
	body := bufio.NewReaderSize(br, 16<<10)
	if chunked {
		body = bufio.NewReaderSize(httputil.NewChunkedReader(br), 16<<10)
	}
	// The stream opens with a stream-open event once the subscription
	// is in place: only then is the client a subscriber.
	for {
		ev, _, err := nextEvent(body, nil)
		if err != nil {
			return fail(fmt.Errorf("waiting for stream-open: %w", err))
		}
		if ev == "stream-open" {
			break
		}
	}
	_ = raw.SetDeadline(time.Time{})
	c := &Client{spec: spec, conn: tc, lat: lat, window: win, done: make(chan struct{})}
	c.discCode.Store(-1)
	go c.readSSE(body)
	return c, nil
}

// nextEvent reads one event: its type and its data lines joined with LF
// (appended to buf).
func nextEvent(r *bufio.Reader, buf []byte) (string, []byte, error) {
	ev := ""
	data := buf[:0]
	lines := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return "", nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if ev != "" || lines > 0 {
				return ev, data, nil
			}
		case bytes.HasPrefix(line, []byte("event:")):
			ev = string(bytes.TrimSpace(line[6:]))
		case bytes.HasPrefix(line, []byte("data:")):
			if lines > 0 {
				data = append(data, '\n')
			}
			v := line[5:]
			if len(v) > 0 && v[0] == ' ' {
				v = v[1:]
			}
			data = append(data, v...)
			lines++
		}
	}
}

// readSSE counts the stream's messages until it ends.
func (c *Client) readSSE(r *bufio.Reader) {
	defer close(c.done)
	var buf, payload []byte
	for {
		ev, data, err := nextEvent(r, buf)
		if err != nil {
			c.readErr = err
			return
		}
		buf = data
		var p []byte
		switch ev {
		case "message-base64":
			n := base64.StdEncoding.DecodedLen(len(data))
			if cap(payload) < n {
				payload = make([]byte, n)
			}
			k, err := base64.StdEncoding.Decode(payload[:n], data)
			if err != nil {
				continue
			}
			p = payload[:k]
		case "message", "":
			p = data
		default:
			continue
		}
		now := time.Now().UnixNano()
		c.recv.Add(1)
		c.lastRecv.Store(now)
		if c.window != nil && c.window.contains(now) {
			c.recvWin.Add(1)
			if ts, _, ok := wire.Stamp(p); ok && c.lat != nil {
				c.lat.Record(time.Duration(now - ts))
			}
		}
	}
}
