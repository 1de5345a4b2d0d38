package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// expiryWarning is how long before expiry a certificate starts being logged
// as a warning: long enough for a human to react when renewal is broken.
const expiryWarning = 14 * 24 * time.Hour

// pair names the files one certificate is loaded from. For a single .pem
// holding both, key equals cert. The cert path identifies the certificate
// across reloads.
type pair struct {
	cert, key string
}

func (p pair) String() string {
	if p.key == p.cert {
		return p.cert
	}
	return p.cert + " + " + p.key
}

// entry is one loaded certificate with the names it is indexed under.
type entry struct {
	pair
	cert *tls.Certificate
	// names are normalised DNS names; wildcards keep their "*." prefix.
	names []string
	// local is set when the certificate names an IP address or localhost,
	// which makes it a sensible answer for clients that send no SNI.
	local bool
}

// failure is a pair that could not be loaded.
type failure struct {
	pair
	err error
}

// scan lists the certificate/key pairs in dir, following the layouts in the
// package documentation. A certificate whose key is missing comes back as a
// failure rather than an error, so that a reload can still use the rest.
func scan(dir string) ([]pair, []failure, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %w", err)
	}
	files := make(map[string]bool, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			// Kubernetes keeps its ..data and ..<timestamp> entries here;
			// the visible names link through them.
			continue
		}
		// os.Stat follows symlinks: what matters is what the link points at.
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files[name] = true
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	// Sorted, so that "the first certificate" means the same thing on every
	// load and on every machine.
	slices.Sort(names)

	certbot := files["fullchain.pem"] && files["privkey.pem"]
	join := func(name string) string { return filepath.Join(dir, name) }
	var pairs []pair
	var failed []failure
	for _, name := range names {
		switch {
		case certbot && name == "fullchain.pem":
			pairs = append(pairs, pair{join(name), join("privkey.pem")})
		case certbot && (name == "privkey.pem" || name == "cert.pem" || name == "chain.pem"):
			// cert.pem lacks the intermediates; fullchain.pem has them.
		case strings.HasSuffix(name, ".crt"):
			key := strings.TrimSuffix(name, ".crt") + ".key"
			if !files[key] {
				failed = append(failed, failure{pair{join(name), join(key)},
					fmt.Errorf("certs: %s: no matching key file %s", join(name), key)})
				continue
			}
			pairs = append(pairs, pair{join(name), join(key)})
		case strings.HasSuffix(name, "-key.pem"):
			// The key half of <name>.pem, picked up with it. A lone key has
			// nothing to serve and is ignored like any unrelated file.
		case strings.HasSuffix(name, ".pem"):
			key := strings.TrimSuffix(name, ".pem") + "-key.pem"
			if files[key] {
				pairs = append(pairs, pair{join(name), join(key)})
			} else {
				pairs = append(pairs, pair{join(name), join(name)})
			}
		}
	}
	return pairs, failed, nil
}

// load reads and parses one pair. Its errors name the file at fault, because
// the person reading them has a directory full of similar files.
func load(p pair, log *slog.Logger, now time.Time) (*entry, error) {
	certPEM, err := os.ReadFile(p.cert)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	keyPEM := certPEM
	if p.key != p.cert {
		if keyPEM, err = os.ReadFile(p.key); err != nil {
			return nil, fmt.Errorf("certs: %w", err)
		}
	}
	// tls.X509KeyPair would catch these too, but its messages do not say
	// which file is wrong nor what layout we expected.
	leafBlock := firstPEM(certPEM, func(t string) bool { return t == "CERTIFICATE" })
	if leafBlock == nil {
		return nil, fmt.Errorf("certs: %s: no PEM certificate in file", p.cert)
	}
	if _, err := x509.ParseCertificate(leafBlock.Bytes); err != nil {
		return nil, fmt.Errorf("certs: %s: %w", p.cert, err)
	}
	if firstPEM(keyPEM, func(t string) bool { return strings.HasSuffix(t, "PRIVATE KEY") }) == nil {
		if p.key == p.cert {
			return nil, fmt.Errorf("certs: %s: no private key in file (expected it there or in %s)",
				p.cert, strings.TrimSuffix(p.cert, ".pem")+"-key.pem")
		}
		return nil, fmt.Errorf("certs: %s: no PEM private key in file", p.key)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certs: %s: %w", p, err)
	}
	if c.Leaf == nil {
		// Only nil under GODEBUG=x509keypairleaf=0; we need it for the names.
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certs: %s: %w", p.cert, err)
		}
	}
	e := &entry{pair: p, cert: &c}
	leaf := c.Leaf
	dnsNames := leaf.DNSNames
	if len(dnsNames) == 0 && leaf.Subject.CommonName != "" {
		// Legacy certificates name their host only in the CN. Clients that
		// check it (not Go's) can still be served.
		dnsNames = []string{leaf.Subject.CommonName}
	}
	for _, n := range dnsNames {
		key, ok := sanKey(n)
		if !ok {
			log.Warn("ignoring a name that is not a hostname", "file", p.cert, "name", n)
			continue
		}
		e.names = append(e.names, key)
		if key == "localhost" {
			e.local = true
		}
	}
	if len(leaf.IPAddresses) > 0 {
		e.local = true
	}
	if len(e.names) == 0 && !e.local {
		log.Warn("certificate names no host and will never be served", "file", p.cert)
	}
	switch {
	case now.After(leaf.NotAfter):
		log.Warn("certificate has expired", "file", p.cert, "not_after", leaf.NotAfter)
	case now.Add(expiryWarning).After(leaf.NotAfter):
		log.Warn("certificate expires soon", "file", p.cert, "not_after", leaf.NotAfter)
	}
	return e, nil
}

// sanKey normalises a DNS name from a certificate. A wildcard is only
// honoured as a whole leftmost label ("*.ns.example.com"); partial wildcards
// such as "b*.example.com" are refused, as RFC 6125 lets us do and as the
// major browsers do.
func sanKey(name string) (string, bool) {
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		host, ok := normalizeHost(rest)
		return "*." + host, ok
	}
	return normalizeHost(name)
}

// firstPEM returns the first PEM block in data whose type matches, or nil.
func firstPEM(data []byte, match func(blockType string) bool) *pem.Block {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil || match(b.Type) {
			return b
		}
	}
}

// loadDir loads every pair in dir. Pairs that fail come back as failures.
func loadDir(dir string, log *slog.Logger) ([]*entry, []failure, error) {
	pairs, failed, err := scan(dir)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	entries := make([]*entry, 0, len(pairs))
	for _, p := range pairs {
		e, err := load(p, log, now)
		if err != nil {
			failed = append(failed, failure{p, err})
			continue
		}
		entries = append(entries, e)
	}
	return entries, failed, nil
}

// joinFailures turns failures into one error that lists every bad file, so
// that fixing a directory takes one restart rather than one per file.
func joinFailures(failed []failure) error {
	errs := make([]error, len(failed))
	for i, f := range failed {
		errs[i] = f.err
	}
	return errors.Join(errs...)
}
