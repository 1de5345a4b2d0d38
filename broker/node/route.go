package node

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/token"
)

var errUnknownHost = errors.New("no broker has this hostname")

// getCertificate refuses the handshake for a server name that is not a
// broker's hostname, so that no connection reaches a broker it did not
// name, and leaves the choice of certificate to the CertSource.
func (n *Node) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if name := sniHost(hello.ServerName); name != "" && n.state.Load().BrokerByHostname(name) == nil {
		n.m.count("unknown_host")
		return nil, errUnknownHost
	}
	return n.cfg.Certs.GetCertificate(hello)
}

// sniHost returns the hostname a client asked for in its TLS SNI, or ""
// when it sent none. Some clients (mosquitto's, through OpenSSL) send the
// IP address they dialed, which RFC 6066 forbids; that counts as no SNI,
// so those connections are routed by their token's audience.
func sniHost(name string) string {
	name = strings.TrimSuffix(name, ".")
	if net.ParseIP(name) != nil {
		return ""
	}
	return name
}

// accept serves one listener until it is closed.
func (n *Node) accept(ln net.Listener) {
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			n.log.Warn("accepting a connection", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		n.mu.Lock()
		if n.closing {
			n.mu.Unlock()
			_ = raw.Close()
			return
		}
		n.conns[raw] = struct{}{}
		n.wg.Add(1)
		n.mu.Unlock()
		go func() {
			ended := func() {
				n.mu.Lock()
				delete(n.conns, raw)
				n.mu.Unlock()
				n.wg.Done()
			}
			if !n.handle(raw, ended) {
				_ = raw.Close()
				ended()
			}
		}()
	}
}

// handle does the TLS handshake and tells MQTT from HTTP. An MQTT
// connection is routed to its broker and runs there until it ends; an
// HTTP one is handed to the edge. kept reports that handle took the
// connection over: it then calls ended once the connection is no longer
// the node's (at once for HTTP, at the session's end for MQTT, which may
// come after handle returns). Otherwise the caller closes raw.
func (n *Node) handle(raw net.Conn, ended func()) (kept bool) {
	l := n.cfg.Limits
	deadline := time.Now().Add(l.ConnectTimeout)
	_ = raw.SetDeadline(deadline)
	tc := tls.Server(raw, n.tls)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if !errors.Is(err, errUnknownHost) {
			n.m.count("handshake")
		}
		n.log.Debug("TLS handshake failed", "remote", raw.RemoteAddr().String(), "error", err)
		return false
	}
	n.m.handshake(tc.ConnectionState().DidResume)
	proto, first, peeked, err := sniff(tc)
	switch {
	case err != nil:
		n.m.count("read")
		return false
	case proto == protoHTTP:
		// net/http sets its own deadlines.
		_ = raw.SetDeadline(time.Time{})
		if peeked {
			n.httpLn.push(&prefixConn{Conn: tc, prefix: []byte{first}})
		} else {
			n.httpLn.push(tc)
		}
		ended()
		return true
	case proto != protoMQTT:
		n.m.count("not_connect")
		return false
	}

	c := &conn{Conn: tc, max: l.MaxPacketSize}
	var b *broker.Broker
	if host := sniHost(tc.ConnectionState().ServerName); host != "" {
		b = n.state.Load().BrokerByHostname(host)
		if peeked {
			c.replay = []byte{first}
		}
	} else {
		var pkt []byte
		var r net.Conn = tc
		if peeked {
			r = &prefixConn{Conn: tc, prefix: []byte{first}}
		}
		if b, pkt = n.routeByAudience(r); b == nil {
			return false
		}
		c.replay = pkt
	}
	if b == nil {
		return false
	}
	s := n.serverFor(b)
	if s == nil {
		return false
	}
	s.establish(c, func() {
		_ = raw.Close()
		ended()
	})
	return true
}

// routeByAudience routes a connection that sent no SNI by the aud claim
// of the token in its CONNECT, and returns the packet for replay. When it
// cannot route, it answers a CONNECT it could parse with a refusing
// CONNACK and returns nil.
func (n *Node) routeByAudience(tc net.Conn) (*broker.Broker, []byte) {
	pkt, err := readConnect(tc, n.cfg.Limits.MaxPacketSize)
	switch {
	case errors.Is(err, errNotConnect):
		n.m.count("not_connect")
		return nil, nil
	case errors.Is(err, errTooLarge):
		n.m.count("too_large")
		return nil, nil
	case errors.Is(err, errMalformed):
		n.m.count("malformed")
		return nil, nil
	case err != nil:
		n.m.count("read")
		return nil, nil
	}
	info, err := parseConnect(pkt)
	if err != nil {
		n.m.count("malformed")
		return nil, nil
	}
	// label is the unrouted metric's; the code comes from r's reason.
	refuse := func(label string, r *broker.Refusal) (*broker.Broker, []byte) {
		n.m.count(label)
		n.log.Info("connection without SNI refused", "reason", label, "remote", tc.RemoteAddr().String())
		msg := r.Message
		if info.Version != 5 {
			msg = "" // a 3.x CONNACK has no reason string
		}
		_, _ = tc.Write(connackPacket(info.Version, connackCode(r).Code, msg))
		return nil, nil
	}
	if info.Version != 5 {
		return refuse("protocol_version", refVersion)
	}
	if len(info.Password) == 0 {
		return refuse("no_token", broker.RefuseNoToken)
	}
	if len(info.Password) > broker.MaxTokenLen {
		return refuse("bad_token", refPasswordLen)
	}
	aud, err := token.PeekAudience(broker.CleanToken(string(info.Password)))
	if err != nil {
		r := broker.TokenRefusal(err)
		if te := (*token.Error)(nil); errors.As(err, &te) && te.Reason == token.ReasonAlgorithm {
			// Most likely a self-signed (HS256) token, which names no
			// broker: only the SNI can.
			r = &broker.Refusal{Reason: r.Reason, Message: "connect with TLS SNI set to the broker's hostname: without it the token must be one of ours (EdDSA), whose audience names the broker"}
		}
		return refuse("bad_token", r)
	}
	b := n.state.Load().BrokerByHostname(aud)
	if b == nil {
		return refuse("unknown_audience", refUnknownAudience)
	}
	return b, pkt
}
