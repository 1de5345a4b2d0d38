// Package http serves the control plane's REST API: the Cloudflare v4
// Pub/Sub routes under /client/v4/accounts/{account_id}/pubsub, in the v4
// envelope. One file per resource; errors are mapped in error.go. It also
// serves the nodes' routes (the config feed, their clients reports) and the
// operators' console's static files at /console/ (package console).
package http

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/controlplane/http/console"
	"github.com/openpubsub/pubsub/pkg/clients"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// noDeadline clears a write deadline on long-lived streams.
var noDeadline time.Time

// APIPrefix is the path every Cloudflare-compatible route starts with.
const APIPrefix = "/client/v4"

// Server serves the REST API over a Service.
type Server struct {
	svc     *controlplane.Service
	log     *slog.Logger
	router  chi.Router
	console http.Handler
	metrics *metrics

	// hookAllowHTTP lets hook tests call http:// hooks on loopback and
	// private addresses (AllowHTTPHooks).
	hookAllowHTTP atomic.Bool
}

// AllowHTTPHooks lets the hook test route call http:// hooks that
// resolve to loopback or private addresses, as the nodes of `pubsub dev`
// do. Call it before serving.
func (s *Server) AllowHTTPHooks(v bool) { s.hookAllowHTTP.Store(v) }

// NewServer returns a Server for svc.
func NewServer(svc *controlplane.Service, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{svc: svc, log: log, metrics: newMetrics()}
	s.console = s.logRequests(console.Handler())
	s.router = s.routes()
	s.metrics.zeroRoutes(s.router)
	return s
}

// ServeHTTP implements http.Handler. The console's static files are
// served beside the router, not in it: they are no API route, so neither
// the envelope nor the OpenAPI spec concerns them.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/console" || r.URL.Path == "/":
		http.Redirect(w, r, console.Prefix, http.StatusFound)
	case strings.HasPrefix(r.URL.Path, console.Prefix):
		s.console.ServeHTTP(w, r)
	default:
		s.router.ServeHTTP(w, r)
	}
}

// Routes returns the router, for tests that compare it with the OpenAPI spec.
func (s *Server) Routes() chi.Routes { return s.router }

func (s *Server) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(s.logRequests)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(controlplane.ENOROUTE, "no route for %s %s; see openapi/openapi.yaml for the API", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(controlplane.EMETHOD, "method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	r.Get("/healthz", s.handleHealth)
	r.Get(MetricsPath, s.metrics.handler().ServeHTTP)
	r.Get(feed.Path, s.handleFeed)
	r.Post(clients.Path, s.handleClientReport)
	r.Post(feed.SigningKeysPath, s.handleNodeSigningKey)

	r.Route(APIPrefix+"/accounts/{account_id}/pubsub", func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/namespaces", s.handleListNamespaces)
		r.Post("/namespaces", s.handleCreateNamespace)
		r.Get("/namespaces/{namespace}", s.handleGetNamespace)
		r.Delete("/namespaces/{namespace}", s.handleDeleteNamespace)

		r.Get("/namespaces/{namespace}/brokers", s.handleListBrokers)
		r.Post("/namespaces/{namespace}/brokers", s.handleCreateBroker)
		r.Get("/namespaces/{namespace}/brokers/{broker}", s.handleGetBroker)
		r.Patch("/namespaces/{namespace}/brokers/{broker}", s.handleUpdateBroker)
		r.Delete("/namespaces/{namespace}/brokers/{broker}", s.handleDeleteBroker)
		r.Post("/namespaces/{namespace}/brokers/{broker}/on_publish/test", s.handleHookTest)

		r.Get("/namespaces/{namespace}/brokers/{broker}/credentials", s.handleMintCredentials)
		r.Post("/namespaces/{namespace}/brokers/{broker}/credentials", s.handleMintCredentials)
		r.Get("/namespaces/{namespace}/brokers/{broker}/credentials/list", s.handleListCredentials)
		r.Get("/namespaces/{namespace}/brokers/{broker}/credentials/{jti}", s.handleGetCredential)

		r.Get("/namespaces/{namespace}/brokers/{broker}/publickeys", s.handlePublicKeys)
		r.Post("/namespaces/{namespace}/brokers/{broker}/publickeys/rotate", s.handleRotateKeys)
		r.Delete("/namespaces/{namespace}/brokers/{broker}/publickeys/{kid}", s.handleDeleteKey)

		r.Get("/namespaces/{namespace}/brokers/{broker}/signingkeys", s.handleListSigningKeys)
		r.Post("/namespaces/{namespace}/brokers/{broker}/signingkeys", s.handleCreateSigningKey)
		r.Delete("/namespaces/{namespace}/brokers/{broker}/signingkeys/{id}", s.handleDeleteSigningKey)

		r.Get("/namespaces/{namespace}/brokers/{broker}/revocations", s.handleListRevocations)
		r.Post("/namespaces/{namespace}/brokers/{broker}/revocations", s.handleRevoke)
		r.Delete("/namespaces/{namespace}/brokers/{broker}/revocations", s.handleUnrevoke)

		r.Get("/namespaces/{namespace}/brokers/{broker}/clients", s.handleListClients)
		r.Post("/namespaces/{namespace}/brokers/{broker}/clients/disconnect", s.handleDisconnectClient)
		r.Get("/namespaces/{namespace}/brokers/{broker}/stats", s.handleBrokerStats)
	})
	return r
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Store().Ping(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeOK(w, map[string]string{"status": "ok"})
}

type ctxKey int

const accountKey ctxKey = 0

// account returns the authenticated account of a request.
func account(r *http.Request) *controlplane.Account {
	return r.Context().Value(accountKey).(*controlplane.Account)
}

// authenticate checks X-Auth-Email + X-Auth-Key or a Bearer API token, and
// that the path's account is the authenticated one. Every refusal is a 403
// whose message says which check failed; a foreign account id gets the same
// answer whether or not that account exists.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			a   *controlplane.Account
			err error
		)
		email, key := r.Header.Get("X-Auth-Email"), r.Header.Get("X-Auth-Key")
		authz := r.Header.Get("Authorization")
		switch {
		case key != "" || email != "":
			if email == "" || key == "" {
				err = errorf(controlplane.EUNAUTHENTICATED, "X-Auth-Email and X-Auth-Key must be sent together")
				break
			}
			a, err = s.svc.AuthenticateKey(r.Context(), email, key)
		case authz != "":
			scheme, tok, ok := strings.Cut(authz, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
				err = errorf(controlplane.EUNAUTHENTICATED, "the Authorization header must be \"Bearer <API token>\"")
				break
			}
			a, err = s.svc.AuthenticateToken(r.Context(), strings.TrimSpace(tok))
		default:
			err = errorf(controlplane.EUNAUTHENTICATED, "Authentication required: send X-Auth-Email and X-Auth-Key headers, or Authorization: Bearer <API token>")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if id := chi.URLParam(r, "account_id"); id != a.ID {
			s.writeError(w, r, errorf(controlplane.EFORBIDDEN, "these credentials do not grant access to account %q", truncate(id)))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), accountKey, a)))
	})
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// logRequests logs one line per request (method, path, status and time)
// and counts it in the metrics. It never logs headers or the query
// string's values, which may hold secrets.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		s.metrics.observe(s.routeOf(r), r.Method, sw.status, took)
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", took)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming handlers flush through the logging wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
