package edge

import (
	"net/http"
	"net/url"
	"slices"
)

// corsAllowHeaders are the request headers browsers may send: the token,
// the body's type, and what EventSource polyfills send.
const corsAllowHeaders = "Authorization, Content-Type, Last-Event-ID, Cache-Control"

// cors sets the CORS headers of a response and reports whether the
// request's origin may call the edge. Credentials (cookies) are never
// allowed: tokens travel in the Authorization header or the query, so
// "*" serves every origin without the invalid "*"-with-credentials
// combination. With Config.Origins set, an allowed origin is echoed
// (with Vary: Origin) and any other refused; a page of the edge itself
// is always allowed.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	h := w.Header()
	if len(s.cfg.Origins) == 0 {
		h.Set("Access-Control-Allow-Origin", "*")
		return true
	}
	h.Add("Vary", "Origin")
	if u, err := url.Parse(origin); (err == nil && u.Host == r.Host) || slices.Contains(s.cfg.Origins, origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		return true
	}
	return false
}

// preflight answers OPTIONS, a CORS preflight when the browser asks for
// a method.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, allow string) {
	h := w.Header()
	h.Set("Allow", allow)
	if r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", allow)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		// Chromium caps the cache at two hours.
		h.Set("Access-Control-Max-Age", "7200")
	}
	w.WriteHeader(http.StatusNoContent)
}
