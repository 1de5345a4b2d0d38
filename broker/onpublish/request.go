package onpublish

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Header names of a hook request, as Cloudflare's Pub/Sub sends them.
const (
	HeaderSignature = "X-Signature-Ed25519"
	HeaderTimestamp = "X-Signature-Timestamp"
	HeaderKeyID     = "X-Signature-Key-Id"
)

// encodeBatch is a request body: the JSON array of the messages, each
// with its index as mid.
func encodeBatch(msgs []*Message, broker string) []byte {
	n := 2
	for _, m := range msgs {
		n += m.size() + len(broker)
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = m.appendJSON(b, i, broker)
	}
	return append(b, ']')
}

// Sign returns the X-Signature-Ed25519 value of a body sent at ts (Unix
// seconds): the standard base64 of the signature of the timestamp's
// decimal digits followed by the body.
func Sign(key ed25519.PrivateKey, ts int64, body []byte) string {
	bp := bufPool.Get().(*[]byte)
	msg := strconv.AppendInt((*bp)[:0], ts, 10)
	msg = append(msg, body...)
	sig := ed25519.Sign(key, msg)
	*bp = msg
	putBuf(bp)
	return base64.StdEncoding.EncodeToString(sig)
}

// bufPool holds the buffers of signed messages and of answers, which
// nothing keeps once the request is over.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// putBuf returns a buffer to bufPool unless it grew past what a batch
// usually needs, which the pool would otherwise keep alive.
func putBuf(bp *[]byte) {
	if cap(*bp) <= 256<<10 {
		bufPool.Put(bp)
	}
}

// readBody reads at most limit+1 bytes of r into buf, which it grows
// once to the declared length when there is one.
func readBody(buf []byte, r io.Reader, declared, limit int64) ([]byte, error) {
	if declared > 0 && declared <= limit && int64(cap(buf)) < declared+1 {
		buf = make([]byte, 0, declared+1) // +1: the read that sees EOF
	}
	lr := io.LimitedReader{R: r, N: limit + 1}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// newRequest builds a signed request for body.
func (h *Hook) newRequest(ctx context.Context, body []byte) *http.Request {
	req := (&http.Request{
		Method: http.MethodPost, URL: h.url, Host: h.url.Host, Header: make(http.Header, 5),
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(ctx)
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pubsub-on-publish/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(h.cfg.Key, ts, body))
	req.Header.Set(HeaderKeyID, h.cfg.KeyID)
	return req
}

// do makes one request and reads its answer.
func (h *Hook) do(ctx context.Context, body []byte, msgs []*Message) (*answer, Outcome) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	res, err := h.client.Do(h.newRequest(ctx, body))
	if err != nil {
		return nil, classify(ctx, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.CopyN(io.Discard, res.Body, 4096) // lets the connection be reused
		if res.StatusCode >= 500 {
			return nil, OutcomeStatus5xx
		}
		return nil, OutcomeStatus
	}
	bp := bufPool.Get().(*[]byte)
	raw, err := readBody((*bp)[:0], res.Body, res.ContentLength, h.cfg.MaxResponseBytes)
	*bp = raw
	defer putBuf(bp) // parseAnswer copies what it keeps
	switch {
	case err != nil:
		return nil, classify(ctx, err)
	case int64(len(raw)) > h.cfg.MaxResponseBytes:
		return nil, OutcomeOversized
	}
	ans, err := parseAnswer(raw, msgs)
	if err != nil {
		return nil, OutcomeInvalid
	}
	return ans, OutcomeOK
}

// classify names a transport error.
func classify(ctx context.Context, err error) Outcome {
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return OutcomeTimeout
	case errors.Is(err, errRefusedAddress):
		return OutcomeRefused
	case errors.Is(err, context.Canceled):
		return OutcomeClosed // Abort
	}
	return OutcomeConnection
}

// errRefusedAddress is the dialer's refusal of an http:// hook that
// resolves to a public address.
var errRefusedAddress = errors.New("onpublish: an http:// hook must resolve to a loopback or private address")

// newClient returns the hook's HTTP client: TLS verified against
// cfg.RootCAs (or the system's roots), no redirects, no proxy, and, for an
// http:// URL, connections to loopback and private addresses only.
func newClient(cfg *Config) *http.Client {
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	if len(cfg.URL) > 5 && cfg.URL[:5] == "http:" {
		// Checked on the resolved address, before connecting: a name
		// that resolves to a public address is refused too.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			if ap, err := netip.ParseAddrPort(address); err != nil || !privateAddr(ap.Addr()) {
				return fmt.Errorf("%w (%s)", errRefusedAddress, address)
			}
			return nil
		}
	}
	tr := &http.Transport{
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    cfg.MaxInFlight,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	tr.DialContext = dialer.DialContext
	return &http.Client{
		Transport: tr,
		// A redirect is an answer like any other that is not 200: the
		// batch fails. Following it would send the signed messages
		// wherever the hook's server says.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// privateAddr reports whether a is loopback, private (RFC 1918, RFC
// 4193) or link-local.
func privateAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}
