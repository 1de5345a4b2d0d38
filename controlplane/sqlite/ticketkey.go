package sqlite

import (
	"context"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

func scanTicketKey(row scanner) (*controlplane.TicketKey, error) {
	var k controlplane.TicketKey
	var createdOn int64
	if err := row.Scan(&k.ID, &k.SealedSecret, &createdOn); err != nil {
		return nil, err
	}
	k.CreatedOn = fromMicros(createdOn)
	return &k, nil
}

// ListTicketKeys returns every TLS session ticket key, newest first.
func (s *Store) ListTicketKeys(ctx context.Context) ([]*controlplane.TicketKey, error) {
	keys, err := query(ctx, s.readDB, scanTicketKey, `SELECT id, sealed_secret, created_on FROM tls_ticket_keys ORDER BY created_on DESC, id DESC`)
	return keys, interpretError(err)
}

// RotateTicketKeys inserts k (unless nil), deletes the keys created before
// expireBefore, and records the change if there was one. Returns
// ECONFLICT when a key with k's id exists.
func (s *Store) RotateTicketKeys(ctx context.Context, k *controlplane.TicketKey, expireBefore time.Time) error {
	return s.write(ctx, func(tx *tx) error {
		changed := false
		if k != nil {
			k.CreatedOn, _ = created(k.CreatedOn, k.CreatedOn)
			_, err := tx.ExecContext(ctx, `INSERT INTO tls_ticket_keys (id, sealed_secret, created_on) VALUES ($1, $2, $3)`,
				k.ID, k.SealedSecret, micros(k.CreatedOn))
			if violation(err) == primaryKeyViolation {
				return controlplane.Errorf(controlplane.ECONFLICT, "TLS ticket key %q already exists", k.ID)
			} else if err != nil {
				return err
			}
			changed = true
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM tls_ticket_keys WHERE created_on < $1`, micros(expireBefore))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			changed = true
		}
		if !changed {
			return nil
		}
		return tx.recordChange(ctx, controlplane.ChangeTicketKeys, "", "")
	})
}
