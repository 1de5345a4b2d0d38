package http_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/internal/testenv"
)

// TestConsoleFiles checks how the control plane serves the console: its
// files with their types and a strict CSP, revalidation by ETag, a 404
// for unknown files, GET and HEAD only, and / and /console sent to it.
func TestConsoleFiles(t *testing.T) {
	a := newAPI(t, testenv.OpenStore(t, "sqlite"))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, a.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/console/", "text/html; charset=utf-8", `<script src="console.js" defer></script>`},
		{"/console/index.html", "text/html; charset=utf-8", "<title>Pub/Sub console</title>"},
		{"/console/console.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/console/console.css", "text/css; charset=utf-8", "--accent"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get("GET", tc.path, nil)
			if got, want := res.StatusCode, 200; got != want {
				t.Fatalf("status %d, want %d", got, want)
			}
			if got := res.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP %q", csp)
			}
			etag := res.Header.Get("ETag")
			if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
				t.Fatalf("ETag %q, Cache-Control %q", etag, res.Header.Get("Cache-Control"))
			}
			if res, _ := get("GET", tc.path, map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation: status %d, want 304", res.StatusCode)
			}
		})
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		if res, body := get("GET", "/console/../go.mod", nil); res.StatusCode != 404 && res.StatusCode != 301 || strings.Contains(body, "module ") {
			t.Errorf("status %d, body %.40q", res.StatusCode, body)
		}
		if res, body := get("GET", "/console/nope.js", nil); res.StatusCode != 404 || !strings.Contains(body, "/console/") {
			t.Errorf("status %d, body %q", res.StatusCode, body)
		}
	})
	t.Run("ErrMethod", func(t *testing.T) {
		if res, _ := get("POST", "/console/", nil); res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("status %d, Allow %q", res.StatusCode, res.Header.Get("Allow"))
		}
	})
	t.Run("Head", func(t *testing.T) {
		if res, body := get("HEAD", "/console/", nil); res.StatusCode != 200 || body != "" {
			t.Errorf("status %d, body %q", res.StatusCode, body)
		}
	})
	t.Run("Redirect", func(t *testing.T) {
		for _, p := range []string{"/", "/console"} {
			if res, _ := get("GET", p, nil); res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/console/" {
				t.Errorf("%s: status %d, Location %q", p, res.StatusCode, res.Header.Get("Location"))
			}
		}
	})
}
