package controlplane

import (
	"context"
	"time"

	"github.com/openpubsub/pubsub/pkg/feed"
)

// TicketKey is a TLS session ticket key of the fleet. Every node encrypts
// its session tickets with the newest one and accepts tickets of all, so a
// client that reconnects to another node (after a node restart, behind a
// load balancer) resumes its TLS session instead of a full handshake. The
// secret is 32 random bytes, stored only sealed with the KEK.
type TicketKey struct {
	ID           string
	SealedSecret []byte
	CreatedOn    time.Time
}

// TicketKeyStore persists the ticket keys. A rotation appends a
// ChangeTicketKeys to the change feed in the same transaction.
type TicketKeyStore interface {
	// ListTicketKeys returns every ticket key, newest first.
	ListTicketKeys(ctx context.Context) ([]*TicketKey, error)
	// RotateTicketKeys inserts k, unless it is nil, and deletes the keys
	// created before expireBefore, in one transaction that records a
	// ChangeTicketKeys when it changed anything. Returns ECONFLICT when a
	// key with k's id exists.
	RotateTicketKeys(ctx context.Context, k *TicketKey, expireBefore time.Time) error
}

// Default ticket key timing. Go's TLS clients and servers accept a ticket
// for at most 7 days (RFC 8446's limit), and an MQTT device that connected
// days ago still holds the ticket of that connection when a node restart
// drops it, so tickets live that long; a new key each day bounds what one
// leaked key decrypts, as Go's own automatic rotation does.
const (
	DefaultTicketKeyRotation = 24 * time.Hour
	DefaultTicketLifetime    = 7 * 24 * time.Hour
)

// ticketKeyScope binds a sealed ticket key to its use: no broker's key
// (their ids are hex) opens as a ticket key, nor the reverse.
const ticketKeyScope = "tls-ticket"

// RotateTicketKeys adds a ticket key when the newest is at least a
// rotation interval old at now (or there is none), and deletes the keys
// whose last ticket is past the ticket lifetime: a key encrypts until the
// next one is made, and its tickets must decrypt for a lifetime after
// that. It reports whether it made a key. Several control planes rotating
// at once may each add one; the extra key is harmless.
func (s *Service) RotateTicketKeys(ctx context.Context, now time.Time) (bool, error) {
	now = now.UTC().Truncate(time.Microsecond)
	keys, err := s.store.ListTicketKeys(ctx) // newest first
	if err != nil {
		return false, err
	}
	var k *TicketKey
	if len(keys) == 0 || !keys[0].CreatedOn.After(now.Add(-s.cfg.TicketKeyRotation)) {
		id := NewSecret(8)
		k = &TicketKey{ID: id, SealedSecret: s.sealer.Seal(randomBytes(feed.TicketKeySize), ticketKeyScope, id), CreatedOn: now}
	}
	// The newest key is kept (it encrypts, or its tickets are fresh), and
	// an older one while the key made after it is within the lifetime.
	// That is a prefix of keys, since they are sorted.
	keep := min(len(keys), 1)
	for keep < len(keys) && !keys[keep-1].CreatedOn.Before(now.Add(-s.cfg.TicketLifetime)) {
		keep++
	}
	if k == nil && keep == len(keys) {
		return false, nil
	}
	var expireBefore time.Time // the zero time deletes nothing
	if keep > 0 {
		expireBefore = keys[keep-1].CreatedOn
	}
	if err := s.store.RotateTicketKeys(ctx, k, expireBefore); err != nil {
		return false, err
	}
	s.changed()
	if k != nil {
		s.log.Info("made a new TLS session ticket key", "id", k.ID, "deleted", len(keys)-keep)
	}
	return k != nil, nil
}

// feedTicketKeys returns the ticket keys for the feed, newest first, with
// their secrets in the clear: the feed handler seals them for its node. A
// key that does not open (a wrong KEK) is left out and logged; a node
// then keeps the keys it has.
func (s *Service) feedTicketKeys(ctx context.Context) ([]feed.HMACKey, error) {
	keys, err := s.store.ListTicketKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]feed.HMACKey, 0, min(len(keys), feed.MaxTicketKeys))
	for _, k := range keys {
		secret, err := s.sealer.Open(k.SealedSecret, ticketKeyScope, k.ID)
		if err != nil {
			s.log.Error("cannot unseal a TLS session ticket key", "key", k.ID, "err", err)
			continue
		}
		if len(out) < feed.MaxTicketKeys {
			out = append(out, feed.HMACKey{ID: k.ID, Secret: secret})
		}
	}
	return out, nil
}
