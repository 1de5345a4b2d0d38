package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
)

// Dir is a [Source] backed by a directory of PEM certificates (layouts in
// the package documentation). It reloads the directory when its files
// change, once they have been quiet for 200ms; handshakes always see one
// complete, immutable index, either the old or the new one, and never wait
// for a reload.
//
// A reload validates before it swaps, and is forgiving where OpenDir is
// strict, because by then the node is serving traffic: a file that fails to
// load is logged as a warning and keeps its previous version (if it had
// one) while the other files update, and a reload that would leave no
// certificate at all is refused. Symlinks are followed, and the directories
// they point into are watched too, so certbot renewals and Kubernetes
// secret updates, which swap links rather than write files, are seen.
type Dir struct {
	path string
	log  *slog.Logger

	idx atomic.Pointer[index]
	def atomic.Pointer[string] // name set by SetDefault, nil if none

	w         *fsnotify.Watcher
	watched   map[string]bool // extra directories on symlink paths; owned by the watch goroutine
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// index is the immutable lookup table one load produces.
type index struct {
	exact map[string]*tls.Certificate
	// wild is keyed by the parent domain of the wildcard ("*.ns.example.com"
	// is stored as "ns.example.com") so that a lookup slices the SNI name
	// rather than building a string.
	wild map[string]*tls.Certificate
	// local is the first certificate (in file name order) that names an IP
	// address or localhost: the default for clients that send no SNI.
	local *tls.Certificate
	// entries, sorted by certificate path, let a reload keep the previous
	// version of a file whose new version is bad.
	entries []*entry
}

func newIndex(entries []*entry) *index {
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.pair.cert, b.pair.cert) })
	x := &index{
		exact:   make(map[string]*tls.Certificate),
		wild:    make(map[string]*tls.Certificate),
		entries: entries,
	}
	for _, e := range entries {
		for _, n := range e.names {
			m, key := x.exact, n
			if rest, ok := strings.CutPrefix(n, "*."); ok {
				m, key = x.wild, rest
			}
			// The certificate that lives longer wins: during a rotation the
			// old and new files briefly coexist, and the new one must win.
			if old := m[key]; old == nil || e.cert.Leaf.NotAfter.After(old.Leaf.NotAfter) {
				m[key] = e.cert
			}
		}
		if e.local && x.local == nil {
			x.local = e.cert
		}
	}
	return x
}

// lookup finds the certificate for a normalised hostname: the exact name,
// else the wildcard one level up. Only one level: a wildcard's "*" stands
// for exactly one label (RFC 6125, section 6.4.3).
func (x *index) lookup(host string) *tls.Certificate {
	if c := x.exact[host]; c != nil {
		return c
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		return x.wild[host[i+1:]]
	}
	return nil
}

func (x *index) entry(certPath string) *entry {
	i, ok := slices.BinarySearchFunc(x.entries, certPath, func(e *entry, p string) int { return strings.Compare(e.pair.cert, p) })
	if !ok {
		return nil
	}
	return x.entries[i]
}

// OpenDir loads the certificates in the directory at path and starts
// watching it for changes. It fails, naming every file at fault, if a file
// cannot be parsed, a certificate has no matching key, or the directory
// holds no certificate at all: a node should not start with a half-read
// configuration. Later reloads are more forgiving (see [Dir]). A nil log
// discards messages. Call Close to stop watching.
func OpenDir(path string, log *slog.Logger) (*Dir, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	entries, failed, err := loadDir(abs, log)
	if err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		return nil, joinFailures(failed)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("certs: no certificates in %s", abs)
	}
	d := &Dir{
		path:    abs,
		log:     log,
		watched: make(map[string]bool),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	d.idx.Store(newIndex(entries))

	// Watch the directory, not the files: editors, certbot and Kubernetes
	// all replace files by renaming over them, which a watch on the old
	// inode would never report.
	if d.w, err = fsnotify.NewWatcher(); err != nil {
		return nil, fmt.Errorf("certs: watching %s: %w", abs, err)
	}
	if err := d.w.Add(abs); err != nil {
		d.w.Close()
		return nil, fmt.Errorf("certs: watching %s: %w", abs, err)
	}
	d.syncWatches()
	go d.watch()
	log.Info("certificates loaded", "dir", abs, "certificates", len(entries))
	return d, nil
}

// GetCertificate returns the certificate for the client's SNI name, found
// as described in the package documentation. A client that sends no SNI
// (one that dialled an IP address) gets the default certificate: the one
// set with SetDefault, else the first that names an IP address or
// localhost. When nothing matches it returns an error wrapping
// [ErrNoCertificate], which fails the handshake. It does not allocate for
// a lower-case name that matches.
func (d *Dir) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	x := d.idx.Load()
	sni := hello.ServerName
	if sni == "" || isIPLiteral(sni) {
		return d.defaultCert(x)
	}
	if host, ok := normalizeHost(sni); ok {
		if c := x.lookup(host); c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w for %q", ErrNoCertificate, sni)
}

func (d *Dir) defaultCert(x *index) (*tls.Certificate, error) {
	if name := d.def.Load(); name != nil {
		if c := x.lookup(*name); c != nil {
			return c, nil
		}
		// The default's file went away in a reload (which logged it);
		// the automatic choice beats failing every IP client.
	}
	if x.local != nil {
		return x.local, nil
	}
	return nil, fmt.Errorf("%w: client sent no server name and no default is set", ErrNoCertificate)
}

// SetDefault makes the certificate that serves name the answer for clients
// that send no SNI. It returns an error wrapping [ErrNoCertificate] if no
// loaded certificate serves name. The choice outlives reloads.
func (d *Dir) SetDefault(name string) error {
	host, ok := normalizeHost(name)
	if !ok || d.idx.Load().lookup(host) == nil {
		return fmt.Errorf("%w for %q", ErrNoCertificate, name)
	}
	d.def.Store(&host)
	return nil
}

// Close stops watching the directory. The certificates loaded last stay in
// service, so a listener may outlive Close. It is safe to call twice.
func (d *Dir) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		d.closeErr = d.w.Close()
		<-d.done
	})
	return d.closeErr
}
