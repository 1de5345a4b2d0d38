package certs

import (
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDelay is how long the directory must stay quiet before a reload.
// Writing a pair touches two files, certbot and Kubernetes touch several
// entries per update, and editors write in bursts; one reload after the burst
// sees the final state instead of a mix.
const reloadDelay = 200 * time.Millisecond

// maxLinkHops bounds how far symlink chains are followed when deciding what
// to watch, so a link loop cannot hang the watcher.
const maxLinkHops = 8

func (d *Dir) watch() {
	defer close(d.done)
	timer := time.NewTimer(reloadDelay)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-d.stop:
			return
		case ev, ok := <-d.w.Events:
			if !ok {
				return
			}
			// Chmod alone changes no content, and some tools (and
			// deletions on Linux) emit it in floods.
			if ev.Op == fsnotify.Chmod {
				continue
			}
			if ev.Name == d.path && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// The watch dies with the directory; say so, since the
				// certificates in memory will silently go stale.
				d.log.Warn("certificate directory removed; reloads stop until restart", "dir", d.path)
			}
			// Since Go 1.23 Reset needs no drain: no stale tick can fire.
			timer.Reset(reloadDelay)
		case err, ok := <-d.w.Errors:
			if !ok {
				return
			}
			// Typically an inotify queue overflow: events were lost, so
			// reload to be sure we have the current state.
			d.log.Warn("certificate directory watch error", "dir", d.path, "err", err)
			timer.Reset(reloadDelay)
		case <-timer.C:
			d.reload()
		}
	}
}

// reload loads the directory again and swaps in the new index. It validates
// before it swaps: a file that fails keeps its previous version if it had
// one, other files still update, and a directory that cannot be read or has
// become empty leaves the current index in place (an empty index would fail
// every handshake, and is far more often a deployment mid-copy than intent).
func (d *Dir) reload() {
	prev := d.idx.Load()
	entries, failed, err := loadDir(d.path, d.log)
	if err != nil {
		d.log.Warn("cannot reload certificates; keeping the current ones", "dir", d.path, "err", err)
		return
	}
	for _, f := range failed {
		if old := prev.entry(f.pair.cert); old != nil && old.pair == f.pair {
			d.log.Warn("cannot load certificate; keeping its previous version", "file", f.pair.String(), "err", f.err)
			entries = append(entries, old)
			continue
		}
		d.log.Warn("cannot load certificate; skipping it", "file", f.pair.String(), "err", f.err)
	}
	if len(entries) == 0 {
		d.log.Warn("no certificates left after reload; keeping the current ones", "dir", d.path)
		return
	}
	next := newIndex(entries)
	d.idx.Store(next)
	d.log.Info("certificates reloaded", "dir", d.path, "certificates", len(entries))
	if name := d.def.Load(); name != nil && next.lookup(*name) == nil {
		d.log.Warn("default certificate is gone; clients without SNI get the automatic choice", "name", *name)
	}
	d.syncWatches()
}

// syncWatches watches the directories that symlinks in the certificate paths
// point into. A file linked from elsewhere (say
// example.com.crt -> /etc/letsencrypt/live/example.com/fullchain.pem) is
// renewed by swapping a link in that other directory, which our own
// directory never hears of. Paths are resolved, so that when a linked
// directory is itself swapped (Kubernetes' ..data) the new target is
// watched and the stale one dropped.
func (d *Dir) syncWatches() {
	self, err := filepath.EvalSymlinks(d.path)
	if err != nil {
		self = d.path
	}
	want := make(map[string]bool)
	for _, e := range d.idx.Load().entries {
		for _, p := range []string{e.pair.cert, e.pair.key} {
			for _, dir := range linkDirs(p) {
				if dir != self {
					want[dir] = true
				}
			}
		}
	}
	for dir := range d.watched {
		if !want[dir] {
			// Fails harmlessly when the directory is already gone.
			_ = d.w.Remove(dir)
			delete(d.watched, dir)
		}
	}
	for dir := range want {
		if d.watched[dir] {
			continue
		}
		if err := d.w.Add(dir); err != nil {
			d.log.Warn("cannot watch linked certificate directory; changes there need a change here to be seen", "dir", dir, "err", err)
			continue
		}
		d.watched[dir] = true
	}
}

// linkDirs returns the resolved directories of every hop of the symlink
// chain starting at p: the places where a swap of the link would change
// what p reads.
func linkDirs(p string) []string {
	var dirs []string
	for range maxLinkHops {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		target, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		if dir, err := filepath.EvalSymlinks(filepath.Dir(target)); err == nil {
			dirs = append(dirs, dir)
		}
		p = target
	}
	return dirs
}
