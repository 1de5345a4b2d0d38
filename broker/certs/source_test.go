package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestServerTLSConfig(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	writePair(t, dir, "b", ca.issue(t, "b.example.com"))
	addr := serve(t, ServerTLSConfig(openDir(t, dir, nil)))

	tests := []struct {
		name      string
		edit      func(*tls.Config)
		wantVer   uint16 // 0: the handshake must fail
		wantCurve tls.CurveID
	}{
		{"ErrTLS10", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS10 }, 0, 0},
		{"ErrTLS11", func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }, 0, 0},
		{"TLS12", func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, tls.VersionTLS12, tls.X25519},
		{"TLS13HybridByDefault", func(c *tls.Config) {}, tls.VersionTLS13, tls.X25519MLKEM768},
		{"X25519", func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.X25519} }, tls.VersionTLS13, tls.X25519},
		{"P256Only", func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP256} }, tls.VersionTLS13, tls.CurveP256},
		{"P256PreferredByClient", func(c *tls.Config) {
			c.CurvePreferences = []tls.CurveID{tls.CurveP256, tls.X25519}
		}, tls.VersionTLS13, tls.X25519},
		{"ErrP521Only", func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{tls.CurveP521} }, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: ca.pool, ServerName: "b.example.com"}
			tt.edit(cfg)
			_, st, err := handshake(addr, cfg)
			if tt.wantVer == 0 {
				if err == nil {
					t.Fatalf("handshake succeeded with version %x, curve %v; want failure", st.Version, st.CurveID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := st.Version, tt.wantVer; got != want {
				t.Errorf("version = %x, want %x", got, want)
			}
			if got, want := st.CurveID, tt.wantCurve; got != want {
				t.Errorf("curve = %v, want %v", got, want)
			}
			if got := st.NegotiatedProtocol; got != "" {
				t.Errorf("negotiated protocol %q, want none: NextProtos is the caller's", got)
			}
		})
	}
}

func TestServerTLSConfigResumes(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	writePair(t, dir, "b", ca.issue(t, "b.example.com"))
	addr := serve(t, ServerTLSConfig(openDir(t, dir, nil)))
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			cfg := &tls.Config{
				RootCAs:            ca.pool,
				ServerName:         "b.example.com",
				MaxVersion:         version,
				ClientSessionCache: tls.NewLRUClientSessionCache(1),
			}
			if _, st, err := handshake(addr, cfg); err != nil || st.DidResume {
				t.Fatalf("first handshake: err %v, resumed %v; want a full handshake", err, st != nil && st.DidResume)
			}
			_, st, err := handshake(addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !st.DidResume {
				t.Error("second handshake did not resume the session")
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"b.ns.example.com", "b.ns.example.com", true},
		{"B.NS.Example.COM", "b.ns.example.com", true},
		{"b.ns.example.com.", "b.ns.example.com", true},
		{"localhost", "localhost", true},
		{"under_score.example.com", "under_score.example.com", true},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com", true},
		{"", "", false},
		{".", "", false},
		{"b..example.com", "", false},
		{".example.com", "", false},
		{"b.example.com..", "", false},
		{"*.ns.example.com", "", false},
		{"b c.example.com", "", false},
		{"bücher.example.com", "", false},
		{"b\x00.example.com", "", false},
		{strings.Repeat("a", 64) + ".com", "", false},
		{strings.Repeat("a.", 127) + "aa", "", false},
	}
	for _, tt := range tests {
		got, ok := normalizeHost(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// FuzzGetCertificate feeds arbitrary SNI values, which come straight from
// the network, through the normalisation and lookup path, and checks the
// answer against a naive reference built on strings.Split.
func FuzzGetCertificate(f *testing.F) {
	for _, s := range []string{
		"exact.example.com", "EXACT.example.com.", "b.ns.example.com", "a.b.ns.example.com",
		"ns.example.com", "*.ns.example.com", ".ns.example.com", "b..ns.example.com", "",
		"127.0.0.1", "::1", "fe80::1%eth0", "1.2.3.4.5", "b.ns.example.com..", "xn--bcher-kva.ns.example.com",
		strings.Repeat("a", 64) + ".ns.example.com", "b\x00.ns.example.com", "bücher.ns.example.com",
	} {
		f.Add(s)
	}
	certFor := func(serial int64) *tls.Certificate {
		return &tls.Certificate{Leaf: &x509.Certificate{SerialNumber: big.NewInt(serial), NotAfter: time.Now().Add(time.Hour)}}
	}
	exact, wild, local := certFor(1), certFor(2), certFor(3)
	d := &Dir{}
	d.idx.Store(newIndex([]*entry{
		{pair: pair{cert: "exact"}, cert: exact, names: []string{"exact.example.com"}},
		{pair: pair{cert: "wild"}, cert: wild, names: []string{"*.ns.example.com"}},
		{pair: pair{cert: "local"}, cert: local, names: []string{"localhost"}, local: true},
	}))

	f.Fuzz(func(t *testing.T, sni string) {
		host, ok := normalizeHost(sni)
		if ok {
			if got, want := host, strings.ToLower(strings.TrimSuffix(sni, ".")); got != want {
				t.Fatalf("normalizeHost(%q) = %q, want %q", sni, got, want)
			}
			if len(host) > maxHostLen || strings.ContainsFunc(host, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
			}) {
				t.Fatalf("normalizeHost(%q) = %q: not a lower-case hostname", sni, host)
			}
			if again, ok := normalizeHost(host); again != host || !ok {
				t.Fatalf("normalizeHost is not idempotent: %q -> %q -> %q, %v", sni, host, again, ok)
			}
		}

		_, parseErr := netip.ParseAddr(sni)
		if got, want := isIPLiteral(sni), parseErr == nil; got != want {
			t.Fatalf("isIPLiteral(%q) = %v, want %v", sni, got, want)
		}

		// The reference: exact match, or exactly one non-empty label in
		// front of the wildcard's domain.
		var want *tls.Certificate
		labels := strings.Split(host, ".")
		switch {
		case sni == "" || parseErr == nil:
			want = local
		case !ok:
		case host == "exact.example.com":
			want = exact
		case host == "localhost":
			want = local
		case len(labels) == 4 && labels[0] != "" && strings.Join(labels[1:], ".") == "ns.example.com":
			want = wild
		}
		got, err := d.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if got != want {
			t.Fatalf("GetCertificate(%q) = %v, want %v", sni, got, want)
		}
		if (err == nil) != (want != nil) || (err != nil && !errors.Is(err, ErrNoCertificate)) {
			t.Fatalf("GetCertificate(%q) error = %v", sni, err)
		}
	})
}
