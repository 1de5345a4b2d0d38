package node_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker/node"
)

// BenchmarkReconnect measures what a reconnect storm is made of: TCP
// connect, TLS 1.3 handshake (X25519, ECDSA P-256), MQTT CONNECT with a
// token the node verified before (the token cache), CONNACK, DISCONNECT,
// with every client and the node in this process on loopback. Full
// handshakes are a node restart without shared ticket keys; resumed ones
// a client that kept its ticket from any node of the fleet. TLS 1.3
// resumption (Go offers only psk_dhe_ke) still runs X25519 on both sides
// and skips the certificate's signature and its verification; TLS 1.2
// resumption skips the key exchange too. It reports connects/s at
// GOMAXPROCS clients in parallel.
func BenchmarkReconnect(b *testing.B) {
	e := newEnv(b, node.Limits{}, "b1")
	e.apply(ticketKeys(1))
	for _, bc := range []struct {
		name    string
		version uint16
		resume  bool
	}{
		{"TLS13/Full", tls.VersionTLS13, false}, {"TLS13/Resumed", tls.VersionTLS13, true},
		{"TLS12/Full", tls.VersionTLS12, false}, {"TLS12/Resumed", tls.VersionTLS12, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			resumed, total := 0, 0
			ch := make(chan [2]int, 64)
			b.RunParallel(func(pb *testing.PB) {
				tok, claims := e.brokers["b1"].token(b, nil)
				// X25519 alone, as devices offer (see BenchmarkTLSResume).
				cfg := &tls.Config{ServerName: e.brokers["b1"].host, RootCAs: e.ca.pool, MaxVersion: bc.version, CurvePreferences: []tls.CurveID{tls.X25519}}
				if bc.resume {
					cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
				}
				r, n := 0, 0
				for pb.Next() {
					if reconnect(b, e.addr, cfg, claims.Subject, tok) {
						r++
					}
					n++
				}
				ch <- [2]int{r, n}
			})
			close(ch)
			for c := range ch {
				resumed, total = resumed+c[0], total+c[1]
			}
			if bc.resume && resumed < total-64 || !bc.resume && resumed > 0 {
				b.Fatalf("%d of %d connects resumed", resumed, total)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "connects/s")
		})
	}
}

// reconnect connects once and reports whether TLS resumed.
func reconnect(b *testing.B, addr string, cfg *tls.Config, clientID, tok string) bool {
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", addr, cfg)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(waitFor))
	cp := packets.NewControlPacket(packets.CONNECT)
	c := cp.Content.(*packets.Connect)
	c.ProtocolName, c.ProtocolVersion, c.ClientID, c.KeepAlive, c.CleanStart = "MQTT", 5, clientID, 30, true
	c.Password, c.PasswordFlag = []byte(tok), true
	if _, err := cp.WriteTo(tc); err != nil {
		b.Fatalf("write CONNECT: %v", err)
	}
	p, err := packets.ReadPacket(tc)
	if err != nil {
		b.Fatalf("read CONNACK: %v", err)
	}
	if ack, ok := p.Content.(*packets.Connack); !ok || ack.ReasonCode != packets.ConnackSuccess {
		b.Fatalf("got %+v, want a successful CONNACK", p.Content)
	}
	if _, err := packets.NewControlPacket(packets.DISCONNECT).WriteTo(tc); err != nil {
		b.Fatalf("write DISCONNECT: %v", err)
	}
	return tc.ConnectionState().DidResume
}
