package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// Server is the HTTP edge of a broker node: one http.Server for every
// broker hostname, fed the TLS connections the node has identified as
// HTTP. Create it with New, feed it with Serve.
type Server struct {
	cfg     Config
	log     *slog.Logger
	backend Backend
	http    *http.Server

	mu     sync.Mutex
	closed bool
	hubs   map[string]*hub // by broker id
}

type sniKey struct{}

// New returns a Server over backend.
func New(cfg Config, backend Backend) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, backend: backend, hubs: map[string]*hub{}}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Bounds a publish's body; streams and WebSockets clear it when
		// they take the connection over.
		ReadTimeout:    30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
		// The TLS server name picks the broker when the Host header does
		// not name one.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if cs, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
				return context.WithValue(ctx, sniKey{}, cs.ConnectionState().ServerName)
			}
			return ctx
		},
	}
	return s, nil
}

// Serve serves HTTP on the connections ln returns (TLS connections whose
// handshake is done, as the node accepts them) until Close. HTTP/2 is
// served on connections that negotiated h2 by ALPN.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close ends every stream with a stream-error event, then stops serving.
// WebSocket connections belong to the node's MQTT servers, which end
// them. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	hubs := s.hubs
	s.hubs = map[string]*hub{}
	s.mu.Unlock()
	for _, h := range hubs {
		runAll(h.close(broker.RefuseShutdown))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.http.Shutdown(ctx)
	return s.http.Close()
}

// Apply enforces a new configuration on the streams, as the node does
// for MQTT sessions: the streams of a deleted broker end, and those of a
// changed broker end when the change invalidates their token. It never
// waits on a broker's bus: a deleted broker's subscriptions are ended on
// another goroutine, and no hub holds its lock across a bus call.
func (s *Server) Apply(old, st *broker.State, now time.Time) {
	s.mu.Lock()
	type change struct {
		h      *hub
		ob, nb *broker.Broker
	}
	var changes []change
	for id, h := range s.hubs {
		ob, nb := old.Broker(id), st.Broker(id)
		if nb == nil {
			delete(s.hubs, id)
		}
		if ob != nb {
			changes = append(changes, change{h, ob, nb})
		}
	}
	s.mu.Unlock()
	for _, c := range changes {
		if c.nb == nil {
			if cancels := c.h.close(broker.RefuseDeleted); len(cancels) > 0 {
				go runAll(cancels)
			}
		} else {
			c.h.enforce(c.ob, c.nb, now)
		}
	}
}

// hub returns the hub of broker b, making it on first use; nil when the
// broker's bus is not available. The bus is fetched without s.mu held:
// it may start the broker's server, and Apply, which takes s.mu, must
// not wait on one broker's start.
func (s *Server) hub(b *broker.Broker) *hub {
	s.mu.Lock()
	h, closed := s.hubs[b.ID], s.closed
	s.mu.Unlock()
	if h != nil || closed {
		return h
	}
	bus := s.backend.Bus(b)
	if bus == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.hubs[b.ID]; h != nil || s.closed {
		return h
	}
	// Apply drops the hubs of deleted brokers under s.mu, after the
	// backend's State has lost them: a broker deleted while its bus was
	// fetched is seen here.
	if s.backend.State().Broker(b.ID) == nil {
		return nil
	}
	h = newHub(s, b.ID, bus)
	s.hubs[b.ID] = h
	return h
}

// route returns the broker a request is for: the one its Host names,
// else the one its TLS server name names; nil when neither does (an IP
// address, say), and then the token's audience decides. Routing by Host
// first is right for HTTP/2, where a browser may reuse one connection
// for every broker a wildcard certificate covers.
func (s *Server) route(r *http.Request) *broker.Broker {
	st := s.backend.State()
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if b := st.BrokerByHostname(host); b != nil {
		return b
	}
	if sni, _ := r.Context().Value(sniKey{}).(string); sni != "" {
		return st.BrokerByHostname(sni)
	}
	return nil
}

// ServeHTTP routes a request:
//
//	GET /events               SSE subscribe
//	POST /events              publish
//	OPTIONS /events           CORS preflight
//	GET /retained             list retained messages (retained.go)
//	GET /mqtt, GET /          MQTT over WebSocket (with Upgrade: websocket)
//	GET /                     the example page, when enabled
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.cors(w, r) {
		writeError(w, errorf(EFORBIDDEN, "origin %q is not allowed", truncate(r.Header.Get("Origin"), 64)))
		return
	}
	b := s.route(r)
	switch r.URL.Path {
	case "/events":
		switch r.Method {
		case http.MethodGet:
			s.serveSSE(w, r, b)
		case http.MethodPost:
			s.servePublish(w, r, b)
		case http.MethodOptions:
			s.preflight(w, r, "GET, POST, OPTIONS")
		default:
			methodNotAllowed(w, "GET, POST, OPTIONS")
		}
	case "/retained":
		switch r.Method {
		case http.MethodGet:
			s.serveRetained(w, r, b)
		case http.MethodOptions:
			s.preflight(w, r, "GET, OPTIONS")
		default:
			methodNotAllowed(w, "GET, OPTIONS")
		}
	case "/admin/keys":
		switch r.Method {
		case http.MethodPost:
			s.serveAdminKeys(w, r, b)
		default:
			methodNotAllowed(w, "POST")
		}
	case "/mqtt", "/":
		switch {
		case isWebSocket(r):
			s.serveWebSocket(w, r, b)
		case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			s.serveIndex(w, r)
		case r.Method == http.MethodOptions:
			s.preflight(w, r, "GET, OPTIONS")
		case r.URL.Path == "/mqtt" && r.Method == http.MethodGet:
			writeError(w, errorf(EWEBSOCKET, "/mqtt takes MQTT over WebSocket: send Upgrade: websocket with the subprotocol mqtt"))
		default:
			methodNotAllowed(w, "GET, OPTIONS")
		}
	default:
		writeError(w, errorf(ENOTFOUND, "no such path: use /events (SSE, publish) or /mqtt (MQTT over WebSocket)"))
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, errorf(EMETHOD, "this path takes %s", allow))
}
