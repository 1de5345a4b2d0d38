// Package target runs the brokers a benchmark measures, each as its own
// process on loopback: the Pub/Sub stack (a control plane and one or two
// broker nodes, from the pubsub binary), Debian's Mosquitto, and raw
// mochi-mqtt with an allow-all hook (bench/cmd/mochi-server). All three
// serve the same certificate, so their TLS handshakes cost the same.
package target

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are the benchmark's certificate files: one ECDSA P-256 leaf (the
// key type of the dev CA and of most ACME certificates) signed by a
// throwaway CA.
type Certs struct {
	Dir      string
	CertFile string // the leaf, then the CA
	KeyFile  string
	CAFile   string
	LeafDER  []byte
}

// GenerateCerts writes a CA and a leaf for the DNS names and for
// 127.0.0.1 into dir, as <dir>/bench.crt and <dir>/bench.key (a layout
// broker/certs reads) and <dir>/ca.pem, outside the node's cert dir.
func GenerateCerts(dir string, dnsNames []string) (*Certs, error) {
	// Mosquitto started as root drops to its own user, which must be able
	// to read the files: the directories are world-readable, and so is the
	// throwaway key.
	certDir := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pubsub bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		DNSNames:     dnsNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &Certs{
		Dir:      certDir,
		CertFile: filepath.Join(certDir, "bench.crt"),
		KeyFile:  filepath.Join(certDir, "bench.key"),
		CAFile:   filepath.Join(dir, "ca.pem"),
		LeafDER:  leafDER,
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	if err := os.WriteFile(c.CertFile, chain, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, err
	}
	return c, nil
}
