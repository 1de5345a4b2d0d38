package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// BenchmarkTLSHandshake measures one full TLS 1.3 handshake, both sides
// on this goroutine's machine, with the node's curve preferences and with
// Go's default ones (the hybrid X25519MLKEM768 first), for a Go client
// that offers both, as Go clients do.
func BenchmarkTLSHandshake(b *testing.B) {
	cert, pool := benchCert(b)
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }
	for _, bc := range []struct {
		name   string
		curves []tls.CurveID
	}{{"NodeX25519", curvePreferences}, {"GoDefault", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := serverTLS(getCert)
			srv.CurvePreferences = bc.curves
			srv.SessionTicketsDisabled = true
			cli := &tls.Config{RootCAs: pool, ServerName: "b.example", ClientSessionCache: nil}
			for b.Loop() {
				c1, c2 := net.Pipe()
				done := make(chan error, 1)
				go func() { done <- tls.Server(c1, srv).Handshake() }()
				cc := tls.Client(c2, cli)
				if err := cc.Handshake(); err != nil {
					b.Fatal(err)
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				if got := cc.ConnectionState().CurveID; bc.curves != nil && got != tls.X25519 {
					b.Fatalf("curve %v, want X25519", got)
				}
				_ = c1.Close()
				_ = c2.Close()
			}
		})
	}
}

// BenchmarkTLSResume measures one TLS handshake, full or resumed from a
// ticket, both sides in this process over loopback TCP, with the node's
// configuration (X25519, ECDSA P-256): the cryptography of a reconnect
// without MQTT. The server writes a byte after the handshake, which the
// client reads, and the ticket that came before it with it.
func BenchmarkTLSResume(b *testing.B) {
	cert, pool := benchCert(b)
	srv := serverTLS(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, srv)
				if tc.Handshake() == nil {
					_, _ = tc.Write([]byte{1})
					_, _ = tc.Read(make([]byte, 1)) // until the client closes
				}
			}()
		}
	}()
	for _, bc := range []struct {
		name    string
		version uint16
		resume  bool
	}{
		{"TLS13/Full", tls.VersionTLS13, false}, {"TLS13/Resumed", tls.VersionTLS13, true},
		{"TLS12/Full", tls.VersionTLS12, false}, {"TLS12/Resumed", tls.VersionTLS12, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// X25519 alone, as MQTT devices offer (and the load tool):
			// a Go client's default adds an ML-KEM key share to every
			// hello, which would be most of the client's cost.
			cli := &tls.Config{RootCAs: pool, ServerName: "b.example", MaxVersion: bc.version, CurvePreferences: []tls.CurveID{tls.X25519}}
			if bc.resume {
				cli.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			resumed := 0
			for b.Loop() {
				c, err := tls.Dial("tcp", ln.Addr().String(), cli)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Read(make([]byte, 1)); err != nil {
					b.Fatal(err)
				}
				if c.ConnectionState().DidResume {
					resumed++
				}
				_ = c.Close()
			}
			if bc.resume && resumed < b.N-1 || !bc.resume && resumed > 0 {
				b.Fatalf("%d of %d handshakes resumed", resumed, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}

// benchCert returns a self-signed ECDSA P-256 certificate for b.example,
// as the node serves, and a pool that trusts it.
func benchCert(b *testing.B) (*tls.Certificate, *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "b.example"},
		DNSNames: []string{"b.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
