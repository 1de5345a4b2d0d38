package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

func scanTicketKey(rows pgx.Rows) (*controlplane.TicketKey, error) {
	var k controlplane.TicketKey
	if err := rows.Scan(&k.ID, &k.SealedSecret, &k.CreatedOn); err != nil {
		return nil, err
	}
	k.CreatedOn = k.CreatedOn.UTC()
	return &k, nil
}

// ListTicketKeys returns every TLS session ticket key, newest first.
func (s *Store) ListTicketKeys(ctx context.Context) ([]*controlplane.TicketKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, sealed_secret, created_on FROM tls_ticket_keys ORDER BY created_on DESC, id DESC`)
	if err != nil {
		return nil, interpretError(err)
	}
	keys, err := collect(rows, scanTicketKey)
	return keys, interpretError(err)
}

// RotateTicketKeys inserts k (unless nil), deletes the keys created before
// expireBefore, and records the change if there was one. Returns
// ECONFLICT when a key with k's id exists.
func (s *Store) RotateTicketKeys(ctx context.Context, k *controlplane.TicketKey, expireBefore time.Time) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		changed := false
		if k != nil {
			k.CreatedOn, _ = created(k.CreatedOn, k.CreatedOn)
			_, err := tx.Exec(ctx, `INSERT INTO tls_ticket_keys (id, sealed_secret, created_on) VALUES ($1, $2, $3)`,
				k.ID, k.SealedSecret, k.CreatedOn)
			if violated(err) == "tls_ticket_keys_pkey" {
				return controlplane.Errorf(controlplane.ECONFLICT, "TLS ticket key %q already exists", k.ID)
			} else if err != nil {
				return err
			}
			changed = true
		}
		tag, err := tx.Exec(ctx, `DELETE FROM tls_ticket_keys WHERE created_on < $1`, expireBefore)
		if err != nil {
			return err
		}
		if !changed && tag.RowsAffected() == 0 {
			return nil
		}
		return recordChange(ctx, tx, controlplane.ChangeTicketKeys, "", "")
	})
}
