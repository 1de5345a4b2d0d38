package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

// notifyChannel is the channel every change transaction notifies, with
// its highest revision as payload.
const notifyChannel = "pubsub_changes"

// recordChange appends one change to the feed; see recordChanges.
func recordChange(ctx context.Context, tx pgx.Tx, kind, namespaceID, brokerID string) error {
	return recordChanges(ctx, tx, kind, namespaceID, brokerID, nil)
}

// recordChanges appends one change per jti (one with no jti when jtis is
// empty) to the feed, and queues a notification sent at commit. Call it as
// the last statement of the transaction: the counter row it updates stays
// locked until commit, which is what makes revisions follow commit order,
// and the shorter that lock is held the less writers wait on each other.
func recordChanges(ctx context.Context, tx pgx.Tx, kind, namespaceID, brokerID string, jtis []string) error {
	if len(jtis) == 0 {
		jtis = []string{""}
	}
	_, err := tx.Exec(ctx, `
		WITH r AS (
			UPDATE revision SET value = value + cardinality($4::text[]) RETURNING value
		), c AS (
			INSERT INTO changes (revision, kind, namespace_id, broker_id, jti, at)
			SELECT r.value - cardinality($4::text[]) + j.n, $1, $2, $3, j.jti, $5
			FROM r, unnest($4::text[]) WITH ORDINALITY AS j (jti, n)
		)
		SELECT pg_notify('`+notifyChannel+`', value::text) FROM r`,
		kind, namespaceID, brokerID, jtis, now())
	return err
}

// ListChanges returns at most limit changes with Revision > after, in
// revision order. A limit of zero or less means no limit.
func (s *Store) ListChanges(ctx context.Context, after int64, limit int) ([]*controlplane.Change, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `
		SELECT revision, kind, namespace_id, broker_id, jti, at FROM changes
		WHERE revision > $1 ORDER BY revision LIMIT $2`, after, lim)
	if err != nil {
		return nil, interpretError(err)
	}
	changes, err := collect(rows, func(rows pgx.Rows) (*controlplane.Change, error) {
		var c controlplane.Change
		if err := rows.Scan(&c.Revision, &c.Kind, &c.NamespaceID, &c.BrokerID, &c.JTI, &c.At); err != nil {
			return nil, err
		}
		c.At = c.At.UTC()
		return &c, nil
	})
	return changes, interpretError(err)
}

// OldestRevision returns the smallest revision still in the feed, or 0 if
// the feed is empty, which only happens before the first change because
// PruneChanges keeps the newest one.
func (s *Store) OldestRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(min(revision), 0) FROM changes`).Scan(&rev)
	return rev, interpretError(err)
}

// LatestRevision implements controlplane.ChangeStore.
func (s *Store) LatestRevision(ctx context.Context) (int64, error) {
	var rev int64
	err := s.pool.QueryRow(ctx, `SELECT value FROM revision`).Scan(&rev)
	return rev, interpretError(err)
}

// PruneChanges deletes changes with Revision <= before and returns how
// many, except that it always keeps the newest change: an empty feed would
// make OldestRevision return 0 and hide from a reader that it missed the
// pruned changes.
func (s *Store) PruneChanges(ctx context.Context, before int64) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM changes
		WHERE revision <= $1 AND revision < (SELECT max(revision) FROM changes)`, before)
	if err != nil {
		return 0, interpretError(err)
	}
	return int(tag.RowsAffected()), nil
}

// Snapshot returns the state of every broker (ordered by creation) and the
// revision it is at, read in one REPEATABLE READ transaction: the state
// reflects exactly the changes up to Revision. Keys have SealedKey cleared;
// revocations exclude those expired at now.
func (s *Store) Snapshot(ctx context.Context, now time.Time) (*controlplane.Snapshot, error) {
	var snap controlplane.Snapshot
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		if err := tx.QueryRow(ctx, `SELECT value FROM revision`).Scan(&snap.Revision); err != nil {
			return err
		}
		snap.Brokers, err = brokerStates(ctx, tx, "", ts(now))
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
	err := s.read(ctx, func(tx pgx.Tx) error {
		var err error
		states, err = brokerStates(ctx, tx, brokerID, ts(now))
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
func brokerStates(ctx context.Context, tx pgx.Tx, brokerID string, now time.Time) ([]*controlplane.BrokerState, error) {
	// "$1 = ''" selects everything; the planner folds it for a constant.
	rows, err := tx.Query(ctx, brokerSelect+` WHERE ($1 = '' OR b.id = $1) ORDER BY b.created_on, b.id`, brokerID)
	if err != nil {
		return nil, err
	}
	brokers, err := collect(rows, scanBroker)
	if err != nil {
		return nil, err
	}
	states := make([]*controlplane.BrokerState, len(brokers))
	byID := make(map[string]*controlplane.BrokerState, len(brokers))
	for i, b := range brokers {
		states[i] = &controlplane.BrokerState{Broker: b, Keys: []*controlplane.SigningKey{}, Revocations: []*controlplane.Revocation{}}
		byID[b.ID] = states[i]
	}
	if len(brokers) == 0 {
		return nil, nil
	}

	rows, err = tx.Query(ctx, `
		SELECT id, broker_id, state, public_key, NULL::bytea, created_on, modified_on
		FROM signing_keys WHERE ($1 = '' OR broker_id = $1)`+keyOrder, brokerID)
	if err != nil {
		return nil, err
	}
	keys, err := collect(rows, scanKey)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if st := byID[k.BrokerID]; st != nil {
			st.Keys = append(st.Keys, k)
		}
	}

	rows, err = tx.Query(ctx, revocationSelect+`
		WHERE ($1 = '' OR broker_id = $1) AND (expires_at IS NULL OR expires_at > $2)
		ORDER BY revoked_at, jti`, brokerID, now)
	if err != nil {
		return nil, err
	}
	revs, err := collect(rows, scanRevocation)
	if err != nil {
		return nil, err
	}
	for _, r := range revs {
		if st := byID[r.BrokerID]; st != nil {
			st.Revocations = append(st.Revocations, r)
		}
	}

	rows, err = tx.Query(ctx, hmacKeySelect+`
		WHERE ($1 = '' OR broker_id = $1)
		  AND broker_id IN (SELECT id FROM brokers WHERE self_signed_tokens)
		ORDER BY created_on, id`, brokerID)
	if err != nil {
		return nil, err
	}
	hkeys, err := collect(rows, scanHMACKey)
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

// ListenChanges calls fn with the current revision once it listens, then
// with the revision of every change transaction that commits, in any
// process using the database, so that a control-plane process can wake its
// feed readers. fn runs on the listening goroutine: it should not block.
// Calls may skip revisions (a transaction that records several changes
// reports only its highest) and, after a reconnection, repeat them.
//
// ListenChanges holds one dedicated connection, outside the pool. It
// returns an error at once if that connection cannot be made; later
// connection losses are retried with backoff, and fn is called with the
// current revision again after each reconnection, since notifications sent
// meanwhile are lost. It returns ctx.Err() when ctx is done.
func (s *Store) ListenChanges(ctx context.Context, fn func(rev int64)) error {
	conn, err := s.listen(ctx, fn)
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				closeConn(conn)
				conn = nil
				break
			}
			backoff = 100 * time.Millisecond
			if rev, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
				fn(rev)
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		conn, _ = s.listen(ctx, fn)
	}
}

// listen opens the listening connection and reports the current revision.
func (s *Store) listen(ctx context.Context, fn func(rev int64)) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	var rev int64
	if _, err = conn.Exec(ctx, "LISTEN "+notifyChannel); err == nil {
		err = conn.QueryRow(ctx, `SELECT value FROM revision`).Scan(&rev)
	}
	if err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("postgres: listen: %w", err)
	}
	fn(rev)
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
