package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func openDevCA(t testing.TB, dir string) *DevCA {
	t.Helper()
	ca, err := OpenDevCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// caPool reads the CA file the way a client given PUBSUB_CA_FILE does.
func caPool(t testing.TB, ca *DevCA) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(ca.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no PEM certificate", ca.CAFile())
	}
	return pool
}

func TestDevCAPersistent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "tls")
	first := openDevCA(t, dir)
	second := openDevCA(t, dir)

	if got, want := first.CAFile(), filepath.Join(dir, "ca.crt"); got != want {
		t.Errorf("CAFile() = %q, want %q", got, want)
	}
	if !bytes.Equal(first.cert.Raw, second.cert.Raw) {
		t.Error("reopening created a new CA; clients trusting the old file would break")
	}
	fi, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("ca.key mode = %v, want %v", got, want)
	}

	c := first.cert
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("ca.crt is not a signing CA")
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", c.PublicKey)
	}
	if got, want := c.NotAfter.Sub(c.NotBefore).Round(24*time.Hour), caValidity; got < want {
		t.Errorf("CA validity = %v, want at least %v", got, want)
	}

	// A leaf from the reopened CA verifies against the file written first.
	leaf, err := second.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.ns.pubsub.localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Leaf.Verify(x509.VerifyOptions{Roots: caPool(t, first), DNSName: "b.ns.pubsub.localhost"}); err != nil {
		t.Errorf("leaf from reopened CA does not verify: %v", err)
	}
}

func TestDevCAHandshake(t *testing.T) {
	ca := openDevCA(t, t.TempDir())
	addr := serve(t, ServerTLSConfig(ca))
	pool := caPool(t, ca)

	tests := []struct {
		name       string
		serverName string // empty: no SNI, verified against 127.0.0.1
		wantCN     string
	}{
		{"BrokerName", "b.ns.pubsub.localhost", "b.ns.pubsub.localhost"},
		{"UpperCaseSNI", "B.NS.Pubsub.Localhost", "b.ns.pubsub.localhost"},
		{"Localhost", "localhost", "localhost"},
		{"NoSNI", "", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := handshake(addr, &tls.Config{RootCAs: pool, ServerName: tt.serverName})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.Subject.CommonName, tt.wantCN; got != want {
				t.Errorf("CN = %q, want %q", got, want)
			}
			wantDNS := []string{tt.wantCN}
			if tt.wantCN != "localhost" {
				wantDNS = append(wantDNS, "localhost")
			}
			if !slices.Equal(got.DNSNames, wantDNS) {
				t.Errorf("DNS SANs = %v, want %v", got.DNSNames, wantDNS)
			}
			// Every leaf answers for loopback, so any local client verifies.
			for _, ip := range []string{"127.0.0.1", "::1"} {
				if err := got.VerifyHostname(ip); err != nil {
					t.Errorf("leaf does not name %s: %v", ip, err)
				}
			}
			if pub, ok := got.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("leaf key is %T, want ECDSA P-256", got.PublicKey)
			}
			if !slices.Equal(got.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
				t.Errorf("ExtKeyUsage = %v, want serverAuth only", got.ExtKeyUsage)
			}
			if got.IsCA {
				t.Error("leaf is a CA")
			}
			now := time.Now()
			if got, want := got.NotBefore, now.Add(-50*time.Minute); got.After(want) {
				t.Errorf("NotBefore = %v, want backdated before %v", got, want)
			}
			if got, want := got.NotAfter.Sub(now).Round(24*time.Hour), leafValidity; got != want {
				t.Errorf("leaf validity = %v, want %v", got, want)
			}
		})
	}
	t.Run("IPv6Loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		ln.Close()
		addr6 := serveAt(t, "[::1]:0", ServerTLSConfig(ca))
		if _, _, err := handshake(addr6, &tls.Config{RootCAs: pool}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDevCAAllow(t *testing.T) {
	ca := openDevCA(t, t.TempDir())
	var mu sync.Mutex
	var asked []string
	ca.Allow = func(host string) bool {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, host)
		return strings.HasSuffix(host, ".ns.pubsub.localhost")
	}
	addr := serve(t, ServerTLSConfig(ca))
	pool := caPool(t, ca)

	tests := []struct {
		name       string
		serverName string
		wantOK     bool
		wantAsked  string // the name Allow must have seen; empty: not consulted
	}{
		{"Allowed", "B.ns.pubsub.localhost", true, "b.ns.pubsub.localhost"},
		{"ErrRefused", "www.example.com", false, "www.example.com"},
		{"ErrRefusedLookalike", "b.ns.pubsub.localhost.example.com", false, "b.ns.pubsub.localhost.example.com"},
		{"LocalhostAlwaysServed", "localhost", true, ""},
		{"NoSNIAlwaysServed", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			asked = nil
			mu.Unlock()
			_, _, err := handshake(addr, &tls.Config{RootCAs: pool, ServerName: tt.serverName})
			if got, want := err == nil, tt.wantOK; got != want {
				t.Fatalf("handshake error = %v, want success %v", err, want)
			}
			mu.Lock()
			defer mu.Unlock()
			var want []string
			if tt.wantAsked != "" {
				want = []string{tt.wantAsked}
			}
			if !slices.Equal(asked, want) {
				t.Errorf("Allow saw %q, want %q", asked, want)
			}
		})
	}
	t.Run("ErrRefusedMessage", func(t *testing.T) {
		_, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: "www.example.com"})
		if got, want := err.Error(), `certs: no certificate for "www.example.com"`; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
		if !isNoCertificate(err) {
			t.Errorf("error %v does not wrap ErrNoCertificate", err)
		}
	})
	t.Run("ErrNotAHostname", func(t *testing.T) {
		ca.Allow = nil
		for _, sni := range []string{"*.ns.pubsub.localhost", "a b", "a..b"} {
			if _, err := ca.GetCertificate(&tls.ClientHelloInfo{ServerName: sni}); !isNoCertificate(err) {
				t.Errorf("GetCertificate(%q) = %v, want ErrNoCertificate", sni, err)
			}
		}
	})
}

func TestDevCASignsOnce(t *testing.T) {
	ca := openDevCA(t, t.TempDir())
	hello := &tls.ClientHelloInfo{ServerName: "b.ns.pubsub.localhost"}
	const n = 32
	got := make([]*tls.Certificate, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			c, err := ca.GetCertificate(hello)
			if err != nil {
				t.Error(err)
			}
			got[i] = c
		})
	}
	start.Done()
	wg.Wait()
	for i, c := range got {
		if c != got[0] {
			t.Fatalf("handshake %d got a different certificate: the name was signed more than once", i)
		}
	}
}

func TestDevCARenews(t *testing.T) {
	ca := openDevCA(t, t.TempDir())
	now := time.Now()
	ca.now = func() time.Time { return now }
	hello := &tls.ClientHelloInfo{ServerName: "b.ns.pubsub.localhost"}
	get := func() *tls.Certificate {
		t.Helper()
		c, err := ca.GetCertificate(hello)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := get()

	tests := []struct {
		name     string
		advance  time.Duration
		wantSame bool
	}{
		{"CachedWhileFresh", leafValidity - leafRenewal - time.Minute, true},
		{"RenewedWithinADayOfExpiry", leafValidity - leafRenewal + time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = first.Leaf.NotAfter.Add(-leafValidity).Add(tt.advance)
			if got, want := get() == first, tt.wantSame; got != want {
				t.Errorf("same certificate = %v, want %v", got, want)
			}
		})
	}
}

func TestOpenDevCAErrors(t *testing.T) {
	leaf := newTestCA(t).issue(t, "not-a-ca.example.com")
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string // substrings of the error
	}{
		{"ErrKeyMissing", func(t *testing.T, dir string) {
			openDevCA(t, dir)
			os.Remove(filepath.Join(dir, "ca.key"))
		}, []string{"ca.key is missing", "remove", "ca.crt"}},
		{"ErrCertMissing", func(t *testing.T, dir string) {
			openDevCA(t, dir)
			os.Remove(filepath.Join(dir, "ca.crt"))
		}, []string{"ca.crt is missing", "remove", "ca.key"}},
		{"ErrGarbage", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "ca.crt"), []byte("garbage"))
			writeFile(t, filepath.Join(dir, "ca.key"), []byte("garbage"))
		}, []string{"ca.crt"}},
		{"ErrNotACA", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "ca.crt"), leaf.certPEM)
			writeFile(t, filepath.Join(dir, "ca.key"), leaf.keyPEM)
		}, []string{"not a certificate authority"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			_, err := OpenDevCA(dir)
			if err == nil {
				t.Fatal("OpenDevCA succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func BenchmarkDevCAGetCertificate(b *testing.B) {
	ca := openDevCA(b, b.TempDir())
	hello := &tls.ClientHelloInfo{ServerName: "b.ns.pubsub.localhost"}
	if _, err := ca.GetCertificate(hello); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.GetCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWritePair writes a wildcard pair that a node's cert dir serves and
// clients of the CA verify, next to the CA's own subdirectory.
func TestWritePair(t *testing.T) {
	dir := t.TempDir()
	ca := openDevCA(t, filepath.Join(dir, "ca"))
	if err := ca.WritePair(dir, "pubsub", []string{"*.My-Namespace.example.com", "cp.example.com."}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pubsub.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	d, err := OpenDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, host := range []string{"broker.my-namespace.example.com", "cp.example.com"} {
		cert, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: host})
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: caPool(t, ca)}); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
	}
	if _, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: "broker.other.example.com"}); err == nil {
		t.Fatal("a name the pair does not cover was served")
	}
	for _, bad := range [][]string{nil, {"exa mple.com"}, {"*.*.example.com"}, {"a.example.com", "-/x"}} {
		if err := ca.WritePair(dir, "bad", bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
