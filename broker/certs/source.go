package certs

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"strings"
)

// Source chooses the server certificate for a TLS handshake. Its method has
// the signature of [tls.Config.GetCertificate], so a Source plugs into a
// config directly. Implementations are safe for concurrent use and fail the
// handshake, with an error wrapping [ErrNoCertificate], for a name they hold
// no certificate for.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// ErrNoCertificate is wrapped by every error a [Source] returns because it
// has no certificate for the requested name. The full message reads
// `certs: no certificate for "<name>"`.
var ErrNoCertificate = errors.New("certs: no certificate")

// ServerTLSConfig returns a server configuration that takes its certificates
// from src. It accepts TLS 1.2 and 1.3, and keeps session tickets on so that
// reconnecting MQTT clients (mobile devices on flaky links reconnect often)
// resume without a full handshake. NextProtos is left empty: the listener
// that owns the config knows which protocols it speaks (mqtt, h2, ...).
// The caller may modify the returned config; each call returns a new one.
func ServerTLSConfig(src Source) *tls.Config {
	return &tls.Config{
		// TLS 1.0 and 1.1 are deprecated (RFC 8996) and no maintained MQTT
		// client needs them.
		MinVersion:     tls.VersionTLS12,
		GetCertificate: src.GetCertificate,
		// Go picks from this set in its own preference order, which is the
		// order written here. The hybrid post-quantum exchange is built on
		// X25519, X25519 alone is the fast classical choice, and P-256 stays
		// for embedded clients (mbedTLS, wolfSSL builds) that ship nothing
		// else. P-384 is kept for clients restricted to "high security"
		// suites; P-521 buys nothing over it and is slow.
		CurvePreferences: []tls.CurveID{
			tls.X25519MLKEM768,
			tls.X25519,
			tls.CurveP256,
			tls.CurveP384,
		},
		// Session tickets are on by default; Go also rotates the ticket keys
		// itself when SessionTicketKey is left zero, which is what we want.
		SessionTicketsDisabled: false,
	}
}

// maxHostLen is the longest DNS name in text form: 255 octets on the wire
// (RFC 1035, section 2.3.4) less the length octets of the first and last label.
const maxHostLen = 253

// normalizeHost returns the canonical lookup key for a hostname taken from
// SNI or from a certificate: lower case, without the trailing dot of the
// absolute form. It reports false for anything that is not a plain dotted
// hostname, so a crafted SNI value can never match a wildcard entry or make
// DevCA sign a certificate for a name with "*" or spaces in it. The check is
// deliberately lenient about the LDH rule (it allows "_" and hyphens at label
// edges): those names are odd but harmless, and rejecting them here would only
// turn a clear "no certificate" into a confusing one.
//
// It does not allocate when the name is already lower case, which keeps the
// per-handshake lookup allocation-free.
func normalizeHost(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if len(s) == 0 || len(s) > maxHostLen {
		return "", false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			label++
		default:
			return "", false
		}
		if label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return strings.ToLower(s), true
}

// isIPLiteral reports whether an SNI value is an IP address. RFC 6066 forbids
// them, but some clients send one anyway; we treat it like no SNI at all.
// The cheap pre-check keeps netip's error value (an allocation) off the path
// of fully qualified hostnames: top-level domains end in a letter (only a few
// punycode ones end in a digit, and they merely pay for the full parse).
func isIPLiteral(s string) bool {
	if s == "" {
		return false
	}
	if c := s[len(s)-1]; (c < '0' || c > '9') && strings.IndexByte(s, ':') < 0 {
		return false
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}
