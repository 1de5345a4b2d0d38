package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

// CreateNodeToken inserts t. Returns ECONFLICT when the name is taken.
func (s *Store) CreateNodeToken(ctx context.Context, t *controlplane.NodeToken) error {
	t.CreatedOn, _ = created(t.CreatedOn, t.CreatedOn)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO node_tokens (id, name, token_hash, created_on) VALUES ($1, $2, $3, $4)`,
		t.ID, t.Name, t.TokenHash, t.CreatedOn)
	if violated(err) == "node_tokens_name_key" {
		return controlplane.Errorf(controlplane.ECONFLICT, "node token name %q is already taken", t.Name)
	}
	return interpretError(err)
}

// FindNodeTokenByHash returns the token with this hash, or ENOTFOUND. An
// empty hash matches no token.
func (s *Store) FindNodeTokenByHash(ctx context.Context, hash []byte) (*controlplane.NodeToken, error) {
	var list []*controlplane.NodeToken
	if len(hash) > 0 {
		rows, err := s.pool.Query(ctx, nodeTokenSelect+` WHERE token_hash = $1`, hash)
		if err != nil {
			return nil, interpretError(err)
		}
		if list, err = collect(rows, scanNodeToken); err != nil {
			return nil, interpretError(err)
		}
	}
	if len(list) == 0 {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "node token not found")
	}
	return list[0], nil
}

// ListNodeTokens returns every node token, oldest first.
func (s *Store) ListNodeTokens(ctx context.Context) ([]*controlplane.NodeToken, error) {
	rows, err := s.pool.Query(ctx, nodeTokenSelect+` ORDER BY created_on, id`)
	if err != nil {
		return nil, interpretError(err)
	}
	list, err := collect(rows, scanNodeToken)
	return list, interpretError(err)
}

// DeleteNodeToken deletes a token by name. Returns ENOTFOUND.
func (s *Store) DeleteNodeToken(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM node_tokens WHERE name = $1`, name)
	if err != nil {
		return interpretError(err)
	}
	if tag.RowsAffected() == 0 {
		return controlplane.Errorf(controlplane.ENOTFOUND, "node token %q not found", name)
	}
	return nil
}

const nodeTokenSelect = `SELECT id, name, token_hash, created_on FROM node_tokens`

func scanNodeToken(rows pgx.Rows) (*controlplane.NodeToken, error) {
	var t controlplane.NodeToken
	if err := rows.Scan(&t.ID, &t.Name, &t.TokenHash, &t.CreatedOn); err != nil {
		return nil, err
	}
	t.CreatedOn = t.CreatedOn.UTC()
	return &t, nil
}
