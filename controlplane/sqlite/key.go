package sqlite

import (
	"context"

	"github.com/openpubsub/pubsub/controlplane"
)

// keyOrder orders keys as ListKeys documents: current, next, then retired
// keys newest first.
const keyOrder = `
	ORDER BY CASE state WHEN 'current' THEN 0 WHEN 'next' THEN 1 ELSE 2 END,
	         created_on DESC, id DESC`

func scanKey(row scanner) (*controlplane.SigningKey, error) {
	var k controlplane.SigningKey
	var createdOn, modifiedOn int64
	err := row.Scan(&k.ID, &k.BrokerID, &k.State, &k.PublicKey, &k.SealedKey, &createdOn, &modifiedOn)
	if err != nil {
		return nil, err
	}
	k.CreatedOn, k.ModifiedOn = fromMicros(createdOn), fromMicros(modifiedOn)
	return &k, nil
}

func insertKey(ctx context.Context, tx *tx, k *controlplane.SigningKey) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO signing_keys (broker_id, id, state, public_key, sealed_key, created_on, modified_on)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.BrokerID, k.ID, k.State, k.PublicKey, k.SealedKey, micros(k.CreatedOn), micros(k.ModifiedOn))
	if violation(err) == primaryKeyViolation {
		return controlplane.Errorf(controlplane.ECONFLICT, "key %q already exists", k.ID)
	}
	return err
}

// ListKeys returns the broker's keys: current first, then next, then
// retired keys from newest to oldest. An unknown broker has no keys.
func (s *Store) ListKeys(ctx context.Context, brokerID string) ([]*controlplane.SigningKey, error) {
	keys, err := query(ctx, s.readDB, scanKey, `
		SELECT id, broker_id, state, public_key, sealed_key, created_on, modified_on
		FROM signing_keys WHERE broker_id = $1`+keyOrder, brokerID)
	return keys, interpretError(err)
}

// RotateKeys retires the current key, promotes the next key to current and
// inserts next (State must be KeyNext), in one transaction, and records the
// change. Returns ENOTFOUND for an unknown broker, EINVALID when next is
// not in state next.
func (s *Store) RotateKeys(ctx context.Context, brokerID string, next *controlplane.SigningKey) error {
	if next.State != controlplane.KeyNext {
		return controlplane.Errorf(controlplane.EINVALID, "the new key must be in state %q, not %q", controlplane.KeyNext, next.State)
	}
	next.BrokerID = brokerID
	next.CreatedOn, next.ModifiedOn = created(next.CreatedOn, next.ModifiedOn)
	at := micros(next.CreatedOn)
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, brokerID)
		if err != nil {
			return err
		}
		// Retire before promoting: at most one current key at any time.
		_, err = tx.ExecContext(ctx, `
			UPDATE signing_keys SET state = 'retired', modified_on = $2
			WHERE broker_id = $1 AND state = 'current'`, brokerID, at)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE signing_keys SET state = 'current', modified_on = $2
			WHERE broker_id = $1 AND state = 'next'`, brokerID, at)
		if err != nil {
			return err
		}
		if err := insertKey(ctx, tx, next); err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeKeys, nsID, brokerID)
	})
}

// DeleteKey deletes a retired key and records the change. Returns
// ENOTFOUND for an unknown broker or kid, EKEYINUSE for the current or
// next key.
func (s *Store) DeleteKey(ctx context.Context, brokerID, kid string) error {
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, brokerID)
		if err != nil {
			return err
		}
		var state string
		err = tx.QueryRowContext(ctx, `SELECT state FROM signing_keys WHERE broker_id = $1 AND id = $2`,
			brokerID, kid).Scan(&state)
		if isNoRows(err) {
			return controlplane.Errorf(controlplane.ENOTFOUND, "key %q not found", kid)
		} else if err != nil {
			return err
		}
		if state != controlplane.KeyRetired {
			return controlplane.Errorf(controlplane.EKEYINUSE, "key %q is the %s signing key; rotate first", kid, state)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE broker_id = $1 AND id = $2`, brokerID, kid); err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeKeys, nsID, brokerID)
	})
}

// brokerNamespace returns the namespace id of a broker, or ENOTFOUND.
// Writes are serialised, so no row lock is needed.
func brokerNamespace(ctx context.Context, tx *tx, brokerID string) (string, error) {
	var nsID string
	err := tx.QueryRowContext(ctx, `SELECT namespace_id FROM brokers WHERE id = $1`, brokerID).Scan(&nsID)
	if isNoRows(err) {
		return "", errBrokerIDNotFound(brokerID)
	}
	return nsID, err
}
