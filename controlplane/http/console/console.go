// Package console holds the operators' web console: static HTML, CSS and
// JavaScript embedded in the binary, served by the control plane at
// /console/. The page calls the same REST API as curl, with the API token
// or email + global key the operator signs in with, which it keeps in the
// tab's sessionStorage only (never a cookie, so no other origin can ride
// it). There is no build step: the files here are what the browser gets.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

//go:embed static
var static embed.FS

// file is one embedded file, with its type and an ETag of its content.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// csp allows the console's own files, the API on its origin, and SSE and
// HTTP publish on the brokers' HTTPS edges (any https origin: the broker
// domain is the operator's). No inline script or style, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the console's files under Prefix. Unknown paths get
// index.html's 404, never a directory listing.
func Handler() http.Handler {
	files := map[string]file{}
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	_ = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		files[p] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the console only answers GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if !ok {
			http.Error(w, "no such console file; the console is at "+Prefix, http.StatusNotFound)
			return
		}
		// Revalidate each time: a new binary serves new files at once.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		if r.Header.Get("If-None-Match") == f.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", f.contentType)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(f.body)
	})
}
