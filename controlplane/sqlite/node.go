package sqlite

import (
	"context"

	"github.com/openpubsub/pubsub/controlplane"
)

// CreateNodeToken inserts t. Returns ECONFLICT when the name is taken.
func (s *Store) CreateNodeToken(ctx context.Context, t *controlplane.NodeToken) error {
	t.CreatedOn, _ = created(t.CreatedOn, t.CreatedOn)
	return s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO node_tokens (id, name, token_hash, created_on) VALUES ($1, $2, $3, $4)`,
			t.ID, t.Name, t.TokenHash, micros(t.CreatedOn))
		if violation(err) == uniqueViolation {
			return controlplane.Errorf(controlplane.ECONFLICT, "node token name %q is already taken", t.Name)
		}
		return err
	})
}

// FindNodeTokenByHash returns the token with this hash, or ENOTFOUND. An
// empty hash matches no token.
func (s *Store) FindNodeTokenByHash(ctx context.Context, hash []byte) (*controlplane.NodeToken, error) {
	if len(hash) == 0 {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "node token not found")
	}
	t, err := scanNodeToken(s.readDB.QueryRowContext(ctx, nodeTokenSelect+` WHERE token_hash = $1`, hash))
	if isNoRows(err) {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "node token not found")
	}
	return t, interpretError(err)
}

// ListNodeTokens returns every node token, oldest first.
func (s *Store) ListNodeTokens(ctx context.Context) ([]*controlplane.NodeToken, error) {
	list, err := query(ctx, s.readDB, scanNodeToken, nodeTokenSelect+` ORDER BY created_on, id`)
	return list, interpretError(err)
}

// DeleteNodeToken deletes a token by name. Returns ENOTFOUND.
func (s *Store) DeleteNodeToken(ctx context.Context, name string) error {
	return s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM node_tokens WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return controlplane.Errorf(controlplane.ENOTFOUND, "node token %q not found", name)
		}
		return nil
	})
}

const nodeTokenSelect = `SELECT id, name, token_hash, created_on FROM node_tokens`

func scanNodeToken(row scanner) (*controlplane.NodeToken, error) {
	var t controlplane.NodeToken
	var createdOn int64
	if err := row.Scan(&t.ID, &t.Name, &t.TokenHash, &createdOn); err != nil {
		return nil, err
	}
	t.CreatedOn = fromMicros(createdOn)
	return &t, nil
}
