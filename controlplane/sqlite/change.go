package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// recordChange appends one change to the feed; see recordChanges.
func (t *tx) recordChange(ctx context.Context, kind, namespaceID, brokerID string) error {
	return t.recordChanges(ctx, kind, namespaceID, brokerID, nil)
}

// recordChanges appends one change per jti (one with no jti when jtis is
// empty) to the feed, numbered from the revision counter.
func (t *tx) recordChanges(ctx context.Context, kind, namespaceID, brokerID string, jtis []string) error {
	if len(jtis) == 0 {
		jtis = []string{""}
	}
	var last int64
	err := t.QueryRowContext(ctx, `UPDATE revision SET value = value + $1 RETURNING value`, len(jtis)).Scan(&last)
	if err != nil {
		return err
	}
	// json_each numbers array elements from 0 in its key column.
	_, err = t.ExecContext(ctx, `
		INSERT INTO changes (revision, kind, namespace_id, broker_id, jti, at)
		SELECT $1 + key, $2, $3, $4, value, $5 FROM json_each($6)`,
		last-int64(len(jtis))+1, kind, namespaceID, brokerID, micros(now()), jsonList(jtis))
	if err != nil {
		return err
	}
	t.rev = last
	return nil
}

// ListChanges returns at most limit changes with Revision > after, in
// revision order. A limit of zero or less means no limit.
func (s *Store) ListChanges(ctx context.Context, after int64, limit int) ([]*controlplane.Change, error) {
	if limit <= 0 {
		limit = -1
	}
	changes, err := query(ctx, s.readDB, func(row scanner) (*controlplane.Change, error) {
		var c controlplane.Change
		var at int64
		if err := row.Scan(&c.Revision, &c.Kind, &c.NamespaceID, &c.BrokerID, &c.JTI, &at); err != nil {
			return nil, err
		}
		c.At = fromMicros(at)
		return &c, nil
	}, `
		SELECT revision, kind, namespace_id, broker_id, jti, at FROM changes
		WHERE revision > $1 ORDER BY revision LIMIT $2`, after, limit)
	return changes, interpretError(err)
}

// OldestRevision returns the smallest revision still in the feed, or 0 if
// the feed is empty, which only happens before the first change because
// PruneChanges keeps the newest one.
func (s *Store) OldestRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.readDB.QueryRowContext(ctx, `SELECT coalesce(min(revision), 0) FROM changes`).Scan(&rev)
	return rev, interpretError(err)
}

// LatestRevision implements controlplane.ChangeStore.
func (s *Store) LatestRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.readDB.QueryRowContext(ctx, `SELECT value FROM revision`).Scan(&rev)
	return rev, interpretError(err)
}

// PruneChanges deletes changes with Revision <= before and returns how
// many, except that it always keeps the newest change: an empty feed would
// make OldestRevision return 0 and hide from a reader that it missed the
// pruned changes.
func (s *Store) PruneChanges(ctx context.Context, before int64) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `
			DELETE FROM changes
			WHERE revision <= $1 AND revision < (SELECT max(revision) FROM changes)`, before)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Snapshot returns the state of every broker (ordered by creation) and the
// revision it is at, read in one read transaction: the state reflects
// exactly the changes up to Revision. Keys have SealedKey cleared;
// revocations exclude those expired at now.
func (s *Store) Snapshot(ctx context.Context, now time.Time) (*controlplane.Snapshot, error) {
	var snap controlplane.Snapshot
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		if err := tx.QueryRowContext(ctx, `SELECT value FROM revision`).Scan(&snap.Revision); err != nil {
			return err
		}
		snap.Brokers, err = brokerStates(ctx, tx, "", micros(ts(now)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &snap, nil
}

// FindBrokerState returns one broker's state, read in one transaction, or
// ENOTFOUND if it no longer exists.
func (s *Store) FindBrokerState(ctx context.Context, brokerID string, now time.Time) (*controlplane.BrokerState, error) {
	var states []*controlplane.BrokerState
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		states, err = brokerStates(ctx, tx, brokerID, micros(ts(now)))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		return nil, errBrokerIDNotFound(brokerID)
	}
	return states[0], nil
}

// brokerStates reads the state of one broker, or of all when brokerID is "".
func brokerStates(ctx context.Context, tx *sql.Tx, brokerID string, now int64) ([]*controlplane.BrokerState, error) {
	brokers, err := query(ctx, tx, scanBroker, brokerSelect+`
		WHERE ($1 = '' OR b.id = $1) ORDER BY b.created_on, b.id`, brokerID)
	if err != nil || len(brokers) == 0 {
		return nil, err
	}
	states := make([]*controlplane.BrokerState, len(brokers))
	byID := make(map[string]*controlplane.BrokerState, len(brokers))
	for i, b := range brokers {
		states[i] = &controlplane.BrokerState{Broker: b, Keys: []*controlplane.SigningKey{}, Revocations: []*controlplane.Revocation{}}
		byID[b.ID] = states[i]
	}

	keys, err := query(ctx, tx, scanKey, `
		SELECT id, broker_id, state, public_key, NULL, created_on, modified_on
		FROM signing_keys WHERE ($1 = '' OR broker_id = $1)`+keyOrder, brokerID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if st := byID[k.BrokerID]; st != nil {
			st.Keys = append(st.Keys, k)
		}
	}

	revs, err := query(ctx, tx, scanRevocation, revocationSelect+`
		WHERE ($1 = '' OR broker_id = $1) AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY revoked_at, jti`, brokerID, now)
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		if st := byID[r.BrokerID]; st != nil {
			st.Revocations = append(st.Revocations, r)
		}
	}

	hkeys, err := query(ctx, tx, scanHMACKey, hmacKeySelect+`
		WHERE ($1 = '' OR broker_id = $1)
		  AND broker_id IN (SELECT id FROM brokers WHERE self_signed_tokens)
		ORDER BY created_on, id`, brokerID)
	if err != nil {
		return nil, err
	}
	for _, k := range hkeys {
		if st := byID[k.BrokerID]; st != nil {
			st.HMACKeys = append(st.HMACKeys, k)
		}
	}
	return states, nil
}

// listener is one ListenChanges call: commits raise rev and signal wake
// without ever blocking the writer.
type listener struct {
	mu   sync.Mutex
	rev  int64
	wake chan struct{} // capacity 1
}

// notify tells every listener that revision rev committed.
func (s *Store) notify(rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		l.mu.Lock()
		l.rev = max(l.rev, rev)
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// ListenChanges calls fn with the current revision once it listens, then
// with the revision of change transactions as they commit through this
// Store, until ctx is done; it then returns ctx.Err(). It is the
// counterpart of the Postgres store's method: a SQLite file has one
// writing process, so commits made through this Store are all there is.
// fn runs on the calling goroutine, never on the writer's; when fn is
// slow, calls coalesce and report only the latest revision.
func (s *Store) ListenChanges(ctx context.Context, fn func(rev int64)) error {
	l := &listener{wake: make(chan struct{}, 1)}
	s.mu.Lock()
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	// Registered first, then read: a commit in between is not missed.
	var reported int64
	if err := s.readDB.QueryRowContext(ctx, `SELECT value FROM revision`).Scan(&reported); err != nil {
		return interpretError(err)
	}
	fn(reported)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
			l.mu.Lock()
			rev := l.rev
			l.mu.Unlock()
			if rev > reported {
				reported = rev
				fn(rev)
			}
		}
	}
}
