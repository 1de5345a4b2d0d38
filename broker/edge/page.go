package edge

import (
	_ "embed"
	"net/http"
)

// examplePage is a page that subscribes with EventSource and publishes
// with fetch: plain HTML and JavaScript, no build step.
//
//go:embed page/index.html
var examplePage []byte

// serveIndex serves the example page when it is enabled (pubsub dev),
// and a short note otherwise.
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if !s.cfg.ExamplePage {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Pub/Sub broker. GET /events?topic=t subscribes (SSE), POST /events?topic=t publishes, /mqtt is MQTT over WebSocket.\n"))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page loads nothing from elsewhere and talks only to this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(examplePage)
}
