package sqlite

import (
	"context"

	"github.com/openpubsub/pubsub/controlplane"
)

func scanHMACKey(row scanner) (*controlplane.HMACKey, error) {
	var k controlplane.HMACKey
	var createdOn int64
	if err := row.Scan(&k.ID, &k.BrokerID, &k.SealedSecret, &createdOn); err != nil {
		return nil, err
	}
	k.CreatedOn = fromMicros(createdOn)
	return &k, nil
}

// hmacKeySelect selects the columns scanHMACKey reads.
const hmacKeySelect = `SELECT id, broker_id, sealed_secret, created_on FROM hmac_keys`

// ListHMACKeys returns the broker's keys of self-signed tokens, oldest
// first. An unknown broker has none.
func (s *Store) ListHMACKeys(ctx context.Context, brokerID string) ([]*controlplane.HMACKey, error) {
	keys, err := query(ctx, s.readDB, scanHMACKey, hmacKeySelect+` WHERE broker_id = $1 ORDER BY created_on, id`, brokerID)
	return keys, interpretError(err)
}

// CreateHMACKey inserts k and records the change. Returns ENOTFOUND for
// an unknown broker, ECONFLICT when the broker has a key with k's id.
func (s *Store) CreateHMACKey(ctx context.Context, k *controlplane.HMACKey) error {
	k.CreatedOn, _ = created(k.CreatedOn, k.CreatedOn)
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, k.BrokerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO hmac_keys (broker_id, id, sealed_secret, created_on) VALUES ($1, $2, $3, $4)`,
			k.BrokerID, k.ID, k.SealedSecret, micros(k.CreatedOn))
		if violation(err) == primaryKeyViolation {
			return controlplane.Errorf(controlplane.ECONFLICT, "signing key %q already exists", k.ID)
		} else if err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeKeys, nsID, k.BrokerID)
	})
}

// DeleteHMACKey deletes a key and records the change. Returns ENOTFOUND
// for an unknown broker or key.
func (s *Store) DeleteHMACKey(ctx context.Context, brokerID, id string) error {
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, brokerID)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM hmac_keys WHERE broker_id = $1 AND id = $2`, brokerID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return controlplane.Errorf(controlplane.ENOTFOUND, "signing key %q not found", id)
		}
		return tx.recordChange(ctx, controlplane.ChangeKeys, nsID, brokerID)
	})
}
