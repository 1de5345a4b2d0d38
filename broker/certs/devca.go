package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// leafRenewal is how close to expiry a cached leaf is replaced. A day is
	// far more than any handshake takes, and a dev stack left running for a
	// year keeps working.
	leafRenewal = 24 * time.Hour
	// backdate covers clocks that run a little behind ours (containers, VMs
	// resumed from sleep), which would otherwise reject a brand new leaf.
	backdate = time.Hour
)

// DevCA is a [Source] for development: a local certificate authority that
// issues a leaf certificate for whatever name a client asks for, so that
// `pubsub dev` serves real TLS on every broker hostname without setup.
// Clients trust it through the file at CAFile. The CA persists in its
// directory so that the file stays valid across restarts; leaf keys live
// only in memory. It must not serve the public internet: anyone who can
// reach it gets a certificate for any name Allow accepts.
type DevCA struct {
	// Allow, if set, is asked before a leaf is issued for an SNI name (in
	// normalised form: lower case, no trailing dot). If it returns false the
	// handshake fails with an error wrapping [ErrNoCertificate]. The node
	// uses it to refuse names that are not its brokers, so that the CA never
	// mints certificates for arbitrary names. localhost, and clients that
	// send no SNI, are always served. Set it before the first handshake.
	Allow func(host string) bool

	certFile string
	cert     *x509.Certificate
	key      crypto.Signer
	now      func() time.Time // replaced in tests to exercise renewal

	leaves sync.Map // normalised host -> *leafSlot
}

// leafSlot holds the current leaf for one name. Its mutex makes concurrent
// handshakes for a name that needs a leaf sign once: the first signs, the
// others wait and then find its result. Reads of a valid leaf take no lock.
type leafSlot struct {
	mu  sync.Mutex
	cur atomic.Pointer[issued]
}

type issued struct {
	cert    *tls.Certificate
	renewAt time.Time
}

// OpenDevCA loads the CA kept in dir (files ca.crt and ca.key), creating
// dir and a new CA the first time: an ECDSA P-256 key, valid ten years,
// written with mode 0600. A CA that cannot be loaded (one file missing,
// unparsable, not a CA, expired, key not matching) is an error that says
// which file to remove; it is never silently replaced, since clients trust
// the old one.
func OpenDevCA(dir string) (*DevCA, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	ca := &DevCA{certFile: filepath.Join(dir, "ca.crt"), now: time.Now}
	keyFile := filepath.Join(dir, "ca.key")

	certPEM, certErr := os.ReadFile(ca.certFile)
	keyPEM, keyErr := os.ReadFile(keyFile)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
		if certPEM, keyPEM, err = createCA(); err != nil {
			return nil, err
		}
		// Key first: a crash in between leaves a lone key, which the next
		// start reports, rather than a certificate nobody can sign with.
		if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(ca.certFile, certPEM, 0o644); err != nil {
			return nil, err
		}
	case certErr != nil && keyErr != nil && !errors.Is(certErr, fs.ErrNotExist):
		return nil, fmt.Errorf("certs: %w", certErr)
	case certErr != nil || keyErr != nil:
		missing, present, err := ca.certFile, keyFile, certErr
		if keyErr != nil {
			missing, present, err = keyFile, ca.certFile, keyErr
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("certs: dev CA incomplete: %s is missing; remove %s to create a new CA", missing, present)
		}
		return nil, fmt.Errorf("certs: %w", err)
	}

	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: dev CA %s with %s: %w", ca.certFile, keyFile, err)
	}
	ca.cert = pair.Leaf
	if ca.cert == nil {
		if ca.cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: dev CA %s: %w", ca.certFile, err)
		}
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !ca.cert.IsCA || ca.cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certs: %s is not a certificate authority; remove %s and %s to create one", ca.certFile, ca.certFile, keyFile)
	}
	ca.key = signer
	if ca.now().After(ca.cert.NotAfter) {
		return nil, fmt.Errorf("certs: dev CA %s expired on %s; remove %s and %s to create a new one",
			ca.certFile, ca.cert.NotAfter.Format(time.DateOnly), ca.certFile, keyFile)
	}
	return ca, nil
}

// CAFile returns the absolute path of the CA certificate (PEM). Clients
// trust the dev stack by pointing at it: mosquitto_pub --cafile, curl
// --cacert, MQTT.js's ca option; the dev command exports it as
// PUBSUB_CA_FILE.
func (ca *DevCA) CAFile() string { return ca.certFile }

// GetCertificate returns a leaf certificate for the client's SNI name,
// issuing it on first use and caching it until a day before it expires.
// The leaf also names localhost, 127.0.0.1 and ::1, and a client without
// SNI gets the localhost leaf, so local clients connect by any of those
// too. It returns an error wrapping [ErrNoCertificate] for a name that is
// not a hostname or that Allow refuses. A cached leaf costs no allocation.
func (ca *DevCA) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host := "localhost"
	if sni := hello.ServerName; sni != "" && !isIPLiteral(sni) {
		h, ok := normalizeHost(sni)
		if !ok || (h != "localhost" && ca.Allow != nil && !ca.Allow(h)) {
			return nil, fmt.Errorf("%w for %q", ErrNoCertificate, sni)
		}
		host = h
	}
	return ca.leaf(host)
}

func (ca *DevCA) leaf(host string) (*tls.Certificate, error) {
	v, ok := ca.leaves.Load(host)
	if !ok {
		v, _ = ca.leaves.LoadOrStore(host, new(leafSlot))
	}
	slot := v.(*leafSlot)
	now := ca.now()
	if is := slot.cur.Load(); is != nil && now.Before(is.renewAt) {
		return is.cert, nil
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	// Another handshake may have signed while we waited for the lock.
	if is := slot.cur.Load(); is != nil && now.Before(is.renewAt) {
		return is.cert, nil
	}
	cert, err := ca.issue([]string{host}, now)
	if err != nil {
		return nil, err
	}
	slot.cur.Store(&issued{cert: cert, renewAt: cert.Leaf.NotAfter.Add(-leafRenewal)})
	return cert, nil
}

// issue signs a leaf for hosts (the first is its common name), which
// also names localhost.
func (ca *DevCA) issue(hosts []string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	host := hosts[0]
	dnsNames := hosts
	if !slices.Contains(hosts, "localhost") {
		dnsNames = append(slices.Clip(hosts), "localhost")
	}
	// A leaf outliving its CA would fail verification anyway; ending with
	// the CA keeps the renewal check honest.
	notAfter := now.Add(leafValidity)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              dnsNames,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: issuing a dev certificate for %q: %w", hosts, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// WritePair issues one leaf for hosts, host names or wildcards such as
// *.my-namespace.example.com, and writes it into dir as name.crt and
// name.key (mode 0600), a pair a node's --cert-dir loads. It is how
// `pubsub certs self-signed` equips a node outside `pubsub dev` (a
// container, a trial) whose clients trust CAFile.
func (ca *DevCA) WritePair(dir, name string, hosts []string) error {
	if len(hosts) == 0 {
		return errors.New("certs: no host name to issue a certificate for")
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		base, wild := strings.CutPrefix(h, "*.")
		n, ok := normalizeHost(base)
		if !ok {
			return fmt.Errorf("certs: %q is not a host name (nor *. and one)", h)
		}
		if wild {
			n = "*." + n
		}
		names[i] = n
	}
	cert, err := ca.issue(names, ca.now())
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	base := filepath.Join(dir, name)
	// Key first: the node's loader skips a certificate without its key.
	if err := writeFileAtomic(base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(base+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
}

// createCA returns a new self-signed CA certificate and its PKCS #8 key.
func createCA() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	now := time.Now()
	// The host name helps someone who finds this CA in a trust store tell
	// which machine made it.
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:         "Pub/Sub development CA",
			Organization:       []string{"Pub/Sub development"},
			OrganizationalUnit: []string{host},
		},
		NotBefore: now.Add(-backdate),
		NotAfter:  now.Add(caValidity),
		KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		IsCA:      true,
		// It signs leaves only; a stolen key cannot mint an intermediate.
		MaxPathLenZero:        true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: creating the dev CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// randomSerial returns a random 128-bit serial number: unique without
// keeping state, as RFC 5280 requires of serials from one issuer.
func randomSerial() *big.Int {
	// rand.Int never fails with crypto/rand's reader since Go 1.24.
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	return n
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so that nobody reads a half-written file and the mode is right
// from the first byte on disk.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("certs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}
