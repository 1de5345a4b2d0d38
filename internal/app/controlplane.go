package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
)

// ControlPlaneConfig configures a control-plane process.
type ControlPlaneConfig struct {
	Addr string // listen address of the REST API, e.g. 127.0.0.1:8080; port 0 picks one
	// Listener, when set, is an already bound listener for the REST API,
	// used instead of Addr (the dev stack binds it early to know its URL).
	Listener        net.Listener
	Store           StoreConfig
	Domain          string // broker hostnames are <broker>.<namespace>.<Domain>
	MQTTPort        int    // the port shown in broker endpoints
	KEK             []byte // key-encryption key for private signing keys
	RevocationLimit int
	// SelfSignedLeeway is the clock tolerance on self-signed tokens; 0: 900 s.
	SelfSignedLeeway time.Duration
	// AllowHTTPHooks lets hook tests call http:// hooks on loopback and
	// private addresses.
	AllowHTTPHooks bool
	Log            *slog.Logger
}

// Validate checks the config before anything starts.
func (c *ControlPlaneConfig) Validate() error {
	if c.Addr == "" && c.Listener == nil {
		return fmt.Errorf("a listen address is required (--addr)")
	}
	if c.Domain == "" {
		return fmt.Errorf("a broker domain is required (--domain)")
	}
	if len(c.KEK) != 32 {
		return fmt.Errorf("a 32-byte key-encryption key is required (PUBSUB_KEK, 64 hex characters)")
	}
	return nil
}

// ControlPlane is a running control plane: the store, the service and the
// REST API server.
type ControlPlane struct {
	Service *controlplane.Service
	Store   controlplane.Store

	cfg       ControlPlaneConfig
	ln        net.Listener
	srv       *http.Server
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// StartControlPlane opens the store, binds the listener and starts serving.
// Bind errors return at once.
func StartControlPlane(ctx context.Context, cfg ControlPlaneConfig) (*ControlPlane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	store, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	svc, err := controlplane.NewService(store, controlplane.Config{Domain: cfg.Domain, MQTTPort: cfg.MQTTPort, RevocationLimit: cfg.RevocationLimit, KEK: cfg.KEK, SelfSignedLeeway: cfg.SelfSignedLeeway}, cfg.Log)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			store.Close()
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	cp := &ControlPlane{Service: svc, Store: store, cfg: cfg, ln: ln, cancel: cancel, done: make(chan struct{})}
	api := cphttp.NewServer(svc, cfg.Log)
	api.AllowHTTPHooks(cfg.AllowHTTPHooks)
	cp.srv = &http.Server{
		Handler: api,
		// Long-lived feed streams end when the control plane closes.
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	go svc.PurgeLoop(runCtx, time.Minute)
	if l, ok := store.(interface {
		ListenChanges(context.Context, func(int64)) error
	}); ok {
		go func() {
			for runCtx.Err() == nil {
				if err := l.ListenChanges(runCtx, func(int64) { svc.Changes().Notify() }); err != nil && runCtx.Err() == nil {
					cfg.Log.Warn("listen for changes", "err", err)
					select {
					case <-runCtx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	go func() {
		defer close(cp.done)
		if err := cp.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("control plane server", "err", err)
		}
	}()
	return cp, nil
}

// Addr is the address the REST API listens on.
func (cp *ControlPlane) Addr() string { return cp.ln.Addr().String() }

// URL is the base URL of the Cloudflare-compatible API.
func (cp *ControlPlane) URL() string { return "http://" + cp.Addr() + cphttp.APIPrefix }

// Close stops serving (waiting at most 5 s for requests in flight) and
// closes the store. It is safe to call more than once.
func (cp *ControlPlane) Close() error {
	cp.closeOnce.Do(func() {
		cp.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cp.srv.Shutdown(ctx); err != nil {
			cp.srv.Close()
		}
		<-cp.done
		cp.closeErr = cp.Store.Close()
	})
	return cp.closeErr
}
