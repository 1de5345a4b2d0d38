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
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "b.example"},
		DNSNames: []string{"b.example"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(der)
	pool.AddCert(leaf)
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
