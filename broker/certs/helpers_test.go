package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCA issues the certificates that Dir tests load, and is the root the
// test clients trust.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "certs test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf is a PEM certificate and key as a test writes them to disk.
type leaf struct {
	certPEM, keyPEM []byte
	serial          *big.Int
}

// issue returns a leaf for names; names that parse as IP addresses become
// IP SANs. Each call returns a new serial, which is how tests tell which
// certificate a server presented.
func (ca *testCA) issue(t testing.TB, names ...string) leaf {
	t.Helper()
	return ca.issueWith(t, nil, names...)
}

// issueWith is issue with a hook to alter the template (validity, CN).
func (ca *testCA) issueWith(t testing.TB, edit func(*x509.Certificate), names ...string) leaf {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return leaf{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial:  tmpl.SerialNumber,
	}
}

// writeFile replaces path atomically, as deployment tools do, through a
// dot-file that OpenDir ignores.
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// writePair writes l as dir/<base>.crt and dir/<base>.key, key first so
// that the certificate never appears without one.
func writePair(t testing.TB, dir, base string, l leaf) {
	t.Helper()
	writeFile(t, filepath.Join(dir, base+".key"), l.keyPEM)
	writeFile(t, filepath.Join(dir, base+".crt"), l.certPEM)
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func openDir(t testing.TB, dir string, log *slog.Logger) *Dir {
	t.Helper()
	d, err := OpenDir(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// serve runs a TLS server on a loopback port for the duration of the test
// and returns its address. Connections complete the handshake and then
// wait for the client to hang up.
func serve(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	return serveAt(t, "127.0.0.1:0", cfg)
}

// serveAt is serve on a given local address.
func serveAt(t testing.TB, addr string, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() == nil {
					// One byte tells the client the server side succeeded
					// too, and makes it process TLS 1.3 session tickets,
					// which arrive just before it.
					tc.Write([]byte{1})
					io.Copy(io.Discard, tc)
				}
			})
		}
	})
	return ln.Addr().String()
}

// handshake dials addr with cfg and returns the leaf the server presented.
// An empty cfg.ServerName means no SNI, as addr is an IP address.
func handshake(addr string, cfg *tls.Config) (*x509.Certificate, *tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return nil, nil, err
	}
	st := c.ConnectionState()
	return st.PeerCertificates[0], &st, nil
}

// waitFor polls cond until it holds or the deadline passes. File watching
// is asynchronous by nature; polling keeps tests fast when it is fast and
// patient when the machine is loaded.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logBuffer collects log output written from the watcher goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	b := new(logBuffer)
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// isNoCertificate reports whether err is the error a Source returns for a
// name it cannot serve.
func isNoCertificate(err error) bool { return errors.Is(err, ErrNoCertificate) }
