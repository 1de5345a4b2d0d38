package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

func scanHMACKey(rows pgx.Rows) (*controlplane.HMACKey, error) {
	var k controlplane.HMACKey
	if err := rows.Scan(&k.ID, &k.BrokerID, &k.SealedSecret, &k.CreatedOn); err != nil {
		return nil, err
	}
	k.CreatedOn = k.CreatedOn.UTC()
	return &k, nil
}

// hmacKeySelect selects the columns scanHMACKey reads.
const hmacKeySelect = `SELECT id, broker_id, sealed_secret, created_on FROM hmac_keys`

// ListHMACKeys returns the broker's keys of self-signed tokens, oldest
// first. An unknown broker has none.
func (s *Store) ListHMACKeys(ctx context.Context, brokerID string) ([]*controlplane.HMACKey, error) {
	rows, err := s.pool.Query(ctx, hmacKeySelect+` WHERE broker_id = $1 ORDER BY created_on, id`, brokerID)
	if err != nil {
		return nil, interpretError(err)
	}
	keys, err := collect(rows, scanHMACKey)
	return keys, interpretError(err)
}

// CreateHMACKey inserts k and records the change. Returns ENOTFOUND for
// an unknown broker, ECONFLICT when the broker has a key with k's id.
func (s *Store) CreateHMACKey(ctx context.Context, k *controlplane.HMACKey) error {
	k.CreatedOn, _ = created(k.CreatedOn, k.CreatedOn)
	return s.write(ctx, func(tx pgx.Tx) error {
		nsID, err := lockBroker(ctx, tx, k.BrokerID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO hmac_keys (broker_id, id, sealed_secret, created_on) VALUES ($1, $2, $3, $4)`,
			k.BrokerID, k.ID, k.SealedSecret, k.CreatedOn)
		if violated(err) == "hmac_keys_pkey" {
			return controlplane.Errorf(controlplane.ECONFLICT, "signing key %q already exists", k.ID)
		} else if err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeKeys, nsID, k.BrokerID)
	})
}

// DeleteHMACKey deletes a key and records the change. Returns ENOTFOUND
// for an unknown broker or key.
func (s *Store) DeleteHMACKey(ctx context.Context, brokerID, id string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		nsID, err := lockBroker(ctx, tx, brokerID)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM hmac_keys WHERE broker_id = $1 AND id = $2`, brokerID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return controlplane.Errorf(controlplane.ENOTFOUND, "signing key %q not found", id)
		}
		return recordChange(ctx, tx, controlplane.ChangeKeys, nsID, brokerID)
	})
}
