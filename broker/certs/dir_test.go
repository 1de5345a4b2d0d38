package certs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDirHandshake(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	exact := ca.issue(t, "exact.example.com")
	wild := ca.issue(t, "*.ns.example.com")
	local := ca.issue(t, "localhost", "127.0.0.1", "::1")
	writePair(t, dir, "exact", exact)
	writeFile(t, filepath.Join(dir, "wild.pem"), append(wild.certPEM, wild.keyPEM...))
	writePair(t, dir, "local", local)
	d := openDir(t, dir, nil)
	addr := serve(t, ServerTLSConfig(d))

	tests := []struct {
		name       string
		serverName string
		want       leaf // zero: the handshake must fail
	}{
		{"ExactName", "exact.example.com", exact},
		{"ExactNameUpperCase", "EXACT.Example.COM", exact},
		{"WildcardOneLevel", "b.ns.example.com", wild},
		{"WildcardUpperCase", "B.NS.example.com", wild},
		{"NoSNIGetsDefault", "", local},
		{"ErrWildcardTwoLevels", "a.b.ns.example.com", leaf{}},
		{"ErrWildcardParent", "ns.example.com", leaf{}},
		{"ErrUnknownName", "other.example.org", leaf{}},
		{"ErrSuffixOfKnownName", "xexact.example.com", leaf{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := handshake(addr, &tls.Config{RootCAs: ca.pool, ServerName: tt.serverName})
			if tt.want.serial == nil {
				if err == nil {
					t.Fatalf("handshake for %q succeeded with %v, want failure", tt.serverName, got.DNSNames)
				}
				// The server's side of the failure is the error the node logs.
				_, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.serverName})
				if got, want := fmt.Sprint(err), fmt.Sprintf("certs: no certificate for %q", tt.serverName); got != want {
					t.Errorf("GetCertificate error = %s, want %s", got, want)
				}
				if !isNoCertificate(err) {
					t.Errorf("GetCertificate error %v does not wrap ErrNoCertificate", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake for %q: %v", tt.serverName, err)
			}
			if got, want := got.SerialNumber, tt.want.serial; got.Cmp(want) != 0 {
				t.Errorf("served serial %v, want %v", got, want)
			}
		})
	}
}

func TestDirLayouts(t *testing.T) {
	ca := newTestCA(t)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string, l leaf)
	}{
		{"CrtKey", func(t *testing.T, dir string, l leaf) {
			writePair(t, dir, "site", l)
		}},
		{"PemKeyPem", func(t *testing.T, dir string, l leaf) {
			writeFile(t, filepath.Join(dir, "site.pem"), l.certPEM)
			writeFile(t, filepath.Join(dir, "site-key.pem"), l.keyPEM)
		}},
		{"CombinedPem", func(t *testing.T, dir string, l leaf) {
			writeFile(t, filepath.Join(dir, "site.pem"), append(l.certPEM, l.keyPEM...))
		}},
		{"CombinedPemKeyFirst", func(t *testing.T, dir string, l leaf) {
			writeFile(t, filepath.Join(dir, "site.pem"), append(l.keyPEM, l.certPEM...))
		}},
		{"Certbot", func(t *testing.T, dir string, l leaf) {
			writeFile(t, filepath.Join(dir, "fullchain.pem"), l.certPEM)
			writeFile(t, filepath.Join(dir, "privkey.pem"), l.keyPEM)
			writeFile(t, filepath.Join(dir, "cert.pem"), l.certPEM)
			writeFile(t, filepath.Join(dir, "chain.pem"), ca.issue(t, "intermediate.invalid").certPEM)
			writeFile(t, filepath.Join(dir, "README"), []byte("This directory contains your keys."))
		}},
		{"KubernetesSecret", func(t *testing.T, dir string, l leaf) {
			ts := filepath.Join(dir, "..2026_01_01_00_00_00.1")
			if err := os.Mkdir(ts, 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(ts, "tls.crt"), l.certPEM)
			writeFile(t, filepath.Join(ts, "tls.key"), l.keyPEM)
			symlink(t, filepath.Base(ts), filepath.Join(dir, "..data"))
			symlink(t, "..data/tls.crt", filepath.Join(dir, "tls.crt"))
			symlink(t, "..data/tls.key", filepath.Join(dir, "tls.key"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := ca.issue(t, "b.example.com")
			tt.setup(t, dir, l)
			d := openDir(t, dir, nil)
			got, _, err := handshake(serve(t, ServerTLSConfig(d)), &tls.Config{RootCAs: ca.pool, ServerName: "b.example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := got.SerialNumber, l.serial; got.Cmp(want) != 0 {
				t.Errorf("served serial %v, want %v", got, want)
			}
		})
	}
}

func TestOpenDirErrors(t *testing.T) {
	ca := newTestCA(t)
	good := ca.issue(t, "good.example.com")
	other := ca.issue(t, "other.example.com")
	garbage := []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		// want lists substrings of the error: the files at fault.
		want []string
	}{
		{"ErrCertWithoutKey", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.crt"), good.certPEM)
		}, []string{"a.crt", "a.key"}},
		{"ErrUnparsableCert", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.crt"), garbage)
			writeFile(t, filepath.Join(dir, "a.key"), good.keyPEM)
		}, []string{"a.crt"}},
		{"ErrNotPEM", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.crt"), []byte("hello"))
			writeFile(t, filepath.Join(dir, "a.key"), good.keyPEM)
		}, []string{"a.crt", "no PEM certificate"}},
		{"ErrKeyNotPEM", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.crt"), good.certPEM)
			writeFile(t, filepath.Join(dir, "a.key"), good.certPEM)
		}, []string{"a.key", "no PEM private key"}},
		{"ErrPemWithoutKey", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.pem"), good.certPEM)
		}, []string{"a.pem", "a-key.pem"}},
		{"ErrKeyMismatch", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "a.crt"), good.certPEM)
			writeFile(t, filepath.Join(dir, "a.key"), other.keyPEM)
		}, []string{"a.crt", "a.key", "does not match"}},
		{"ErrEveryBadFileNamed", func(t *testing.T, dir string) {
			writePair(t, dir, "ok", good)
			writeFile(t, filepath.Join(dir, "x.crt"), good.certPEM)
			writeFile(t, filepath.Join(dir, "y.pem"), garbage)
		}, []string{"x.crt", "y.pem"}},
		{"ErrEmptyDir", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "README"), []byte("nothing here"))
		}, []string{"no certificates"}},
		{"ErrNoDir", func(t *testing.T, dir string) {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
		}, []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			d, err := OpenDir(dir, nil)
			if err == nil {
				d.Close()
				t.Fatal("OpenDir succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestDirDefault(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	first := ca.issue(t, "localhost", "127.0.0.1")
	second := ca.issue(t, "second.example.com", "127.0.0.1")
	writePair(t, dir, "a-first", first)
	writePair(t, dir, "b-second", second)
	writePair(t, dir, "c-named", ca.issue(t, "named.example.com"))
	d := openDir(t, dir, nil)
	addr := serve(t, ServerTLSConfig(d))
	// No ServerName: the client sends no SNI and verifies 127.0.0.1.
	noSNI := &tls.Config{RootCAs: ca.pool}

	t.Run("FirstLocalByFileName", func(t *testing.T) {
		got, _, err := handshake(addr, noSNI)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := got.SerialNumber, first.serial; got.Cmp(want) != 0 {
			t.Errorf("served serial %v, want %v", got, want)
		}
	})
	t.Run("ErrSetDefaultUnknown", func(t *testing.T) {
		if err := d.SetDefault("missing.example.com"); !isNoCertificate(err) {
			t.Errorf("SetDefault(unknown) = %v, want ErrNoCertificate", err)
		}
	})
	t.Run("SetDefault", func(t *testing.T) {
		if err := d.SetDefault("Second.Example.com."); err != nil {
			t.Fatal(err)
		}
		got, _, err := handshake(addr, noSNI)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := got.SerialNumber, second.serial; got.Cmp(want) != 0 {
			t.Errorf("served serial %v, want %v", got, want)
		}
	})
	t.Run("IPLiteralSNIGetsDefault", func(t *testing.T) {
		c, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Leaf.SerialNumber, second.serial; got.Cmp(want) != 0 {
			t.Errorf("served serial %v, want %v", got, want)
		}
	})
	t.Run("ErrNoDefault", func(t *testing.T) {
		dir := t.TempDir()
		writePair(t, dir, "named", ca.issue(t, "named.example.com"))
		d := openDir(t, dir, nil)
		if _, err := d.GetCertificate(&tls.ClientHelloInfo{}); !isNoCertificate(err) {
			t.Errorf("GetCertificate(no SNI) = %v, want ErrNoCertificate", err)
		}
	})
}

func TestDirNames(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	cn := ca.issueWith(t, func(c *x509.Certificate) { c.Subject.CommonName = "Legacy.Example.com" })
	sanWins := ca.issueWith(t, func(c *x509.Certificate) { c.Subject.CommonName = "cn-ignored.example.com" }, "san.example.com")
	oldRotation := ca.issueWith(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(time.Hour) }, "rotate.example.com")
	newRotation := ca.issueWith(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(48 * time.Hour) }, "rotate.example.com")
	writePair(t, dir, "cn", cn)
	writePair(t, dir, "san", sanWins)
	writePair(t, dir, "rotate-new", newRotation) // sorts first: order must not decide
	writePair(t, dir, "rotate-old", oldRotation)
	d := openDir(t, dir, nil)

	tests := []struct {
		name       string
		serverName string
		want       leaf
	}{
		{"CommonNameWithoutSANs", "legacy.example.com", cn},
		{"SANs", "san.example.com", sanWins},
		{"ErrCommonNameIgnoredWithSANs", "cn-ignored.example.com", leaf{}},
		{"LongestLivedWins", "rotate.example.com", newRotation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: tt.serverName})
			if tt.want.serial == nil {
				if !isNoCertificate(err) {
					t.Errorf("GetCertificate = %v, want ErrNoCertificate", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Leaf.SerialNumber, tt.want.serial; got.Cmp(want) != 0 {
				t.Errorf("served serial %v, want %v", got, want)
			}
		})
	}
}

func TestDirExpiredWarning(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	writePair(t, dir, "old", ca.issueWith(t, func(c *x509.Certificate) {
		c.NotBefore = time.Now().Add(-48 * time.Hour)
		c.NotAfter = time.Now().Add(-24 * time.Hour)
	}, "old.example.com"))
	log, buf := newLog()
	openDir(t, dir, log)
	if got := buf.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "expired") || !strings.Contains(got, "old.crt") {
		t.Errorf("log = %q, want a warning that old.crt expired", got)
	}
}

func TestDirClose(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	writePair(t, dir, "a", ca.issue(t, "a.example.com"))
	d, err := OpenDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Listeners may outlive the watcher; the last index keeps serving.
	if _, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example.com"}); err != nil {
		t.Errorf("GetCertificate after Close: %v", err)
	}
}

func TestGetCertificateAllocs(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	writePair(t, dir, "wild", ca.issue(t, "*.ns.example.com"))
	d := openDir(t, dir, nil)
	dev, err := OpenDevCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  Source
	}{
		{"Dir", d},
		{"DevCA", dev},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hello := &tls.ClientHelloInfo{ServerName: "b.ns.example.com"}
			if _, err := tt.src.GetCertificate(hello); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() { tt.src.GetCertificate(hello) })
			if got, want := allocs, 0.0; got != want {
				t.Errorf("GetCertificate allocates %v times per call, want %v", got, want)
			}
		})
	}
}

func BenchmarkDirGetCertificate(b *testing.B) {
	ca := newTestCA(b)
	dir := b.TempDir()
	for i := range 100 {
		writePair(b, dir, fmt.Sprintf("ns%d", i), ca.issue(b, fmt.Sprintf("*.ns%d.example.com", i)))
	}
	d := openDir(b, dir, nil)
	hello := &tls.ClientHelloInfo{ServerName: "b.ns42.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.GetCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}
