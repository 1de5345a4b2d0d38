package controlplane

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpubsub/pubsub/pkg/feed"
)

// Config holds the settings of a Service.
type Config struct {
	// Domain is the DNS suffix of broker hostnames: <broker>.<namespace>.<Domain>.
	Domain string
	// MQTTPort is the port shown in broker endpoints.
	MQTTPort int
	// RevocationLimit caps the unexpired revocations per broker.
	RevocationLimit int
	// KEK is the 32-byte key-encryption key for private signing keys.
	KEK []byte
	// SelfSignedLeeway is the clock tolerance nodes give self-signed
	// tokens' exp, nbf and iat; 0 means fastly's 900 s.
	SelfSignedLeeway time.Duration
	// TicketKeyRotation is how often a new TLS session ticket key is made;
	// 0 means DefaultTicketKeyRotation.
	TicketKeyRotation time.Duration
	// TicketLifetime is how long a ticket stays usable after its key
	// stopped encrypting; 0 means DefaultTicketLifetime.
	TicketLifetime time.Duration
	// Now returns the current time; tests may replace it.
	Now func() time.Time
}

// DefaultRevocationLimit is Cloudflare's cap on revocations per broker.
const DefaultRevocationLimit = 10000

// Service is the control plane's business logic: it validates input,
// generates ids, keys and tokens, and calls the Store. Every method returns
// *Error values with the codes listed in error.go.
type Service struct {
	store   Store
	cfg     Config
	sealer  *Sealer
	changes *Notifier
	log     *slog.Logger

	keyMu    sync.Mutex
	keyCache map[string]ed25519.PrivateKey // kid -> unsealed key, to mint without unsealing each time

	sweptAt atomic.Int64 // when expired clients reports were last deleted, in Unix ns (client.go)
}

// NewService returns a Service over store. It validates cfg.
func NewService(store Store, cfg Config, log *slog.Logger) (*Service, error) {
	if cfg.Domain == "" {
		return nil, fmt.Errorf("a broker domain is required")
	}
	if cfg.MQTTPort == 0 {
		cfg.MQTTPort = 8883
	}
	if cfg.RevocationLimit <= 0 {
		cfg.RevocationLimit = DefaultRevocationLimit
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TicketKeyRotation == 0 {
		cfg.TicketKeyRotation = DefaultTicketKeyRotation
	}
	if cfg.TicketLifetime == 0 {
		cfg.TicketLifetime = DefaultTicketLifetime
	}
	if cfg.TicketKeyRotation < time.Minute || cfg.TicketLifetime < 0 || cfg.TicketLifetime > DefaultTicketLifetime {
		return nil, fmt.Errorf("the TLS ticket key rotation must be at least a minute (got %s) and the ticket lifetime at most %s (got %s)", cfg.TicketKeyRotation, DefaultTicketLifetime, cfg.TicketLifetime)
	}
	if n := cfg.TicketLifetime/cfg.TicketKeyRotation + 2; n > feed.MaxTicketKeys {
		return nil, fmt.Errorf("a ticket lifetime of %s with a key every %s keeps %d TLS ticket keys, more than %d", cfg.TicketLifetime, cfg.TicketKeyRotation, n, feed.MaxTicketKeys)
	}
	if cfg.SelfSignedLeeway < 0 || cfg.SelfSignedLeeway > 24*time.Hour || cfg.SelfSignedLeeway%time.Second != 0 {
		return nil, fmt.Errorf("the self-signed token leeway must be whole seconds from 0 to 24h, got %s", cfg.SelfSignedLeeway)
	}
	if log == nil {
		log = slog.Default()
	}
	sealer, err := NewSealer(cfg.KEK)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, cfg: cfg, sealer: sealer, changes: NewNotifier(), log: log, keyCache: map[string]ed25519.PrivateKey{}}, nil
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Changes returns the notifier that fires after every committed change.
func (s *Service) Changes() *Notifier { return s.changes }

// now returns the current time in UTC, truncated to the microseconds that
// both stores keep.
func (s *Service) now() time.Time {
	return s.cfg.Now().UTC().Truncate(time.Microsecond)
}

// changed wakes feed waiters after a committed change.
func (s *Service) changed() { s.changes.Notify() }

// Notifier wakes every waiter when something changes. Waiters take the
// channel from Wait, then re-read state; a notification never carries data,
// so a missed one cannot lose information.
type Notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewNotifier returns a Notifier.
func NewNotifier() *Notifier { return &Notifier{ch: make(chan struct{})} }

// Wait returns a channel that is closed at the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// Notify wakes every current waiter.
func (n *Notifier) Notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// FeedRetention is how many revisions of the change feed are kept. A node
// further behind than this gets a full snapshot instead of the changes.
const FeedRetention = 100_000

// PurgeLoop deletes revocations of expired tokens, and changes older than
// FeedRetention revisions, every interval until ctx ends. ListRevocations
// already hides expired revocations; this only reclaims space. It also
// rotates the TLS session ticket keys, at once and then every interval.
func (s *Service) PurgeLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.RotateTicketKeys(ctx, s.now()); err != nil && ctx.Err() == nil {
			s.log.Warn("rotate the TLS session ticket keys", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.store.PurgeRevocations(ctx, s.now()); err != nil {
				s.log.Warn("purge expired revocations", "err", err)
			} else if n > 0 {
				s.log.Info("purged expired revocations", "count", n)
			}
			if latest, err := s.store.LatestRevision(ctx); err != nil {
				s.log.Warn("read the latest revision", "err", err)
			} else if latest > FeedRetention {
				if _, err := s.store.PruneChanges(ctx, latest-FeedRetention); err != nil {
					s.log.Warn("prune the change feed", "err", err)
				}
			}
		}
	}
}
