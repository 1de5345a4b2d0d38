package certs

import (
	"crypto/tls"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// servedSerial returns the serial of the certificate a real handshake for
// name presents, or nil if the handshake fails.
func servedSerial(addr string, ca *testCA, name string) *big.Int {
	got, _, err := handshake(addr, &tls.Config{RootCAs: ca.pool, ServerName: name})
	if err != nil {
		return nil
	}
	return got.SerialNumber
}

func isSerial(got, want *big.Int) bool { return got != nil && got.Cmp(want) == 0 }

func TestDirReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	a1 := ca.issue(t, "a.example.com")
	writePair(t, dir, "a", a1)
	d := openDir(t, dir, nil)
	addr := serve(t, ServerTLSConfig(d))

	t.Run("NewFile", func(t *testing.T) {
		c := ca.issue(t, "c.example.com")
		writePair(t, dir, "c", c)
		waitFor(t, "c.example.com to be served", func() bool {
			return isSerial(servedSerial(addr, ca, "c.example.com"), c.serial)
		})
	})
	t.Run("ReplacedFile", func(t *testing.T) {
		a2 := ca.issue(t, "a.example.com")
		writePair(t, dir, "a", a2)
		waitFor(t, "the new a.example.com certificate", func() bool {
			return isSerial(servedSerial(addr, ca, "a.example.com"), a2.serial)
		})
	})
	t.Run("OverwrittenInPlace", func(t *testing.T) {
		// Not every tool renames; a plain write (truncate, then write) must
		// be seen too, and a half-written moment must not be swapped in.
		a3 := ca.issue(t, "a.example.com")
		if err := os.WriteFile(filepath.Join(dir, "a.key"), a3.keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.crt"), a3.certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the rewritten a.example.com certificate", func() bool {
			return isSerial(servedSerial(addr, ca, "a.example.com"), a3.serial)
		})
	})
	t.Run("RemovedFile", func(t *testing.T) {
		for _, f := range []string{"c.crt", "c.key"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "c.example.com to be refused", func() bool {
			return servedSerial(addr, ca, "c.example.com") == nil
		})
	})
}

func TestDirReloadKeepsOldOnBadFile(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	a := ca.issue(t, "a.example.com")
	b := ca.issue(t, "b.example.com")
	writePair(t, dir, "a", a)
	writePair(t, dir, "b", b)
	log, buf := newLog()
	d := openDir(t, dir, log)
	addr := serve(t, ServerTLSConfig(d))

	// Break b's certificate and, in the same burst, add c: once c is served
	// we know the reload that saw the bad file has happened.
	writeFile(t, filepath.Join(dir, "b.crt"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	writeFile(t, filepath.Join(dir, "orphan.crt"), a.certPEM)
	c := ca.issue(t, "c.example.com")
	writePair(t, dir, "c", c)
	waitFor(t, "c.example.com to be served", func() bool {
		return isSerial(servedSerial(addr, ca, "c.example.com"), c.serial)
	})

	tests := []struct {
		name string
		host string
		want *big.Int
	}{
		{"BadFileKeepsPreviousVersion", "b.example.com", b.serial},
		{"OtherFilesUnaffected", "a.example.com", a.serial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := servedSerial(addr, ca, tt.host); !isSerial(got, tt.want) {
				t.Errorf("served serial for %s = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
	t.Run("Logged", func(t *testing.T) {
		logs := buf.String()
		for _, want := range []string{"b.crt", "keeping its previous version", "orphan.crt", "orphan.key"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log does not mention %q:\n%s", want, logs)
			}
		}
	})
	t.Run("EmptiedDirKeepsIndex", func(t *testing.T) {
		for _, f := range []string{"a.crt", "a.key", "b.crt", "b.key", "c.crt", "c.key", "orphan.crt"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "the reload of the emptied directory", func() bool {
			return strings.Contains(buf.String(), "no certificates left")
		})
		if got := servedSerial(addr, ca, "a.example.com"); !isSerial(got, a.serial) {
			t.Errorf("served serial for a.example.com = %v, want %v", got, a.serial)
		}
	})
}

func TestDirSymlinkSwap(t *testing.T) {
	ca := newTestCA(t)

	t.Run("KubernetesSecret", func(t *testing.T) {
		// The kubelet writes each version of a secret to a new timestamped
		// directory, points ..data_tmp at it and renames that over ..data.
		dir := t.TempDir()
		version := func(name string, l leaf) {
			ts := filepath.Join(dir, name)
			if err := os.Mkdir(ts, 0o700); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(ts, "tls.crt"), l.certPEM)
			writeFile(t, filepath.Join(ts, "tls.key"), l.keyPEM)
			symlink(t, name, filepath.Join(dir, "..data_tmp"))
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
		}
		v1 := ca.issue(t, "k.example.com")
		version("..2026_01_01_00_00_00.1", v1)
		symlink(t, "..data/tls.crt", filepath.Join(dir, "tls.crt"))
		symlink(t, "..data/tls.key", filepath.Join(dir, "tls.key"))
		d := openDir(t, dir, nil)
		addr := serve(t, ServerTLSConfig(d))
		if got := servedSerial(addr, ca, "k.example.com"); !isSerial(got, v1.serial) {
			t.Fatalf("served serial %v, want %v", got, v1.serial)
		}

		for i, name := range []string{"..2026_01_02_00_00_00.2", "..2026_01_03_00_00_00.3"} {
			v := ca.issue(t, "k.example.com")
			version(name, v)
			waitFor(t, "secret version "+name, func() bool {
				return isSerial(servedSerial(addr, ca, "k.example.com"), v.serial)
			})
			// The kubelet then deletes the old version.
			old := "..2026_01_01_00_00_00.1"
			if i == 1 {
				old = "..2026_01_02_00_00_00.2"
			}
			if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("LinkedFromElsewhere", func(t *testing.T) {
		// certbot layout, linked into our directory: our link points at
		// live/, whose links point at archive/. Renewal writes new files to
		// archive/ and swaps the links in live/; our directory sees nothing.
		root := t.TempDir()
		archive := filepath.Join(root, "archive", "e.example.com")
		live := filepath.Join(root, "live", "e.example.com")
		dir := filepath.Join(root, "certs")
		for _, p := range []string{archive, live, dir} {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		renew := func(n string, l leaf) {
			writeFile(t, filepath.Join(archive, "fullchain"+n+".pem"), l.certPEM)
			writeFile(t, filepath.Join(archive, "privkey"+n+".pem"), l.keyPEM)
			for _, f := range []string{"fullchain", "privkey"} {
				tmp := filepath.Join(live, "."+f+".tmp")
				symlink(t, "../../archive/e.example.com/"+f+n+".pem", tmp)
				if err := os.Rename(tmp, filepath.Join(live, f+".pem")); err != nil {
					t.Fatal(err)
				}
			}
		}
		v1 := ca.issue(t, "e.example.com")
		renew("1", v1)
		symlink(t, filepath.Join(live, "fullchain.pem"), filepath.Join(dir, "e.example.com.crt"))
		symlink(t, filepath.Join(live, "privkey.pem"), filepath.Join(dir, "e.example.com.key"))
		d := openDir(t, dir, nil)
		addr := serve(t, ServerTLSConfig(d))
		if got := servedSerial(addr, ca, "e.example.com"); !isSerial(got, v1.serial) {
			t.Fatalf("served serial %v, want %v", got, v1.serial)
		}

		v2 := ca.issue(t, "e.example.com")
		renew("2", v2)
		waitFor(t, "the renewed certificate", func() bool {
			return isSerial(servedSerial(addr, ca, "e.example.com"), v2.serial)
		})
	})
}
