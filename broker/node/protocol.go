package node

import (
	"crypto/tls"
	"net"
	"slices"
	"sync"
)

// Every TLS port of a node speaks both MQTT and HTTPS: the protocol is
// told apart after the handshake, by ALPN when the client offered it, or
// else by the first byte the client sends, which is 0x10 for an MQTT
// CONNECT and a method's capital letter for HTTP. One open port is then
// enough behind a strict firewall.

// alpnProtocols are the ALPN names the node offers, in its order of
// preference.
var alpnProtocols = []string{"h2", "http/1.1", "mqtt"}

// alpnConfig answers a ClientHello with withALPN, a configuration
// offering alpnProtocols, only when the client asks for one of our
// protocols: a client offering only others (x-amzn-mqtt-ca, say) would
// otherwise fail the handshake, and it gets the first-byte test instead.
func alpnConfig(withALPN *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		for _, p := range hello.SupportedProtos {
			if slices.Contains(alpnProtocols, p) {
				return withALPN, nil
			}
		}
		return nil, nil
	}
}

// protocol is what a connection speaks.
type protocol int

const (
	protoUnknown protocol = iota
	protoMQTT
	protoHTTP
)

// sniff decides the protocol of a connection whose handshake is done.
// first is the byte read to decide, when one was read (ok).
func sniff(tc *tls.Conn) (p protocol, first byte, ok bool, err error) {
	switch tc.ConnectionState().NegotiatedProtocol {
	case "h2", "http/1.1":
		return protoHTTP, 0, false, nil
	case "mqtt":
		return protoMQTT, 0, false, nil
	}
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil {
		return protoUnknown, 0, false, err
	}
	switch {
	case b[0] == typeConnect<<4:
		return protoMQTT, b[0], true, nil
	case b[0] >= 'A' && b[0] <= 'Z':
		return protoHTTP, b[0], true, nil
	}
	return protoUnknown, b[0], true, nil
}

// prefixConn is a TLS connection with bytes already read put back in
// front. It keeps ConnectionState, from which the edge reads the server
// name.
type prefixConn struct {
	*tls.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connListener is the net.Listener the edge's HTTP server accepts from:
// the node's accept loops push the connections they identified as HTTP.
type connListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the HTTP server, or closes it if the listener is closed.
func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next connection pushed.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns the address of the first HTTPS listener.
func (l *connListener) Addr() net.Addr { return l.addr }
