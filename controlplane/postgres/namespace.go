package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

// CreateNamespace inserts ns and records the change. Returns ECONFLICT
// (ErrNamespaceTaken) when any account already has the name, ENOTFOUND
// when the account does not exist.
func (s *Store) CreateNamespace(ctx context.Context, ns *controlplane.Namespace) error {
	ns.CreatedOn, ns.ModifiedOn = created(ns.CreatedOn, ns.ModifiedOn)
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO namespaces (id, account_id, name, description, created_on, modified_on)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			ns.ID, ns.AccountID, ns.Name, ns.Description, ns.CreatedOn, ns.ModifiedOn)
		switch violated(err) {
		case "namespaces_name_key":
			return controlplane.ErrNamespaceTaken(ns.Name)
		case "namespaces_account_id_fkey":
			return controlplane.Errorf(controlplane.ENOTFOUND, "account %q not found", ns.AccountID)
		}
		if err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeNamespace, ns.ID, "")
	})
}

// FindNamespace returns the account's namespace by name, or ENOTFOUND.
func (s *Store) FindNamespace(ctx context.Context, accountID, name string) (*controlplane.Namespace, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, account_id, name, description, created_on, modified_on
		FROM namespaces WHERE account_id = $1 AND name = $2`, accountID, name)
	if err != nil {
		return nil, interpretError(err)
	}
	list, err := collect(rows, scanNamespace)
	if err != nil {
		return nil, interpretError(err)
	}
	if len(list) == 0 {
		return nil, controlplane.ErrNamespaceNotFound(name)
	}
	return list[0], nil
}

// ListNamespaces returns one page of the account's namespaces, ordered by
// creation then id, and the total count.
func (s *Store) ListNamespaces(ctx context.Context, accountID string, p controlplane.Page) ([]*controlplane.Namespace, int, error) {
	limit, offset := limitOffset(p)
	rows, err := s.pool.Query(ctx, `
		SELECT id, account_id, name, description, created_on, modified_on
		FROM namespaces WHERE account_id = $1
		ORDER BY created_on, id LIMIT $2 OFFSET $3`, accountID, limit, offset)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	list, err := collect(rows, scanNamespace)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	total, err := count(ctx, s.pool, `SELECT count(*) FROM namespaces WHERE account_id = $1`, accountID)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	return list, total, nil
}

// DeleteNamespace deletes the account's namespace by name and records the
// change. Returns ENOTFOUND, or ENOTEMPTY (ErrNamespaceNotEmpty) naming
// its brokers in name order.
func (s *Store) DeleteNamespace(ctx context.Context, accountID, name string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		// FOR UPDATE conflicts with the key-share lock that inserting a
		// broker takes on its namespace: a concurrent CreateBroker either
		// commits first (and is seen below) or fails its foreign key.
		var id string
		err := tx.QueryRow(ctx, `
			SELECT id FROM namespaces WHERE account_id = $1 AND name = $2 FOR UPDATE`,
			accountID, name).Scan(&id)
		if isNoRows(err) {
			return controlplane.ErrNamespaceNotFound(name)
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name FROM brokers WHERE namespace_id = $1 ORDER BY name`, id)
		if err != nil {
			return err
		}
		brokers, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(brokers) > 0 {
			return controlplane.ErrNamespaceNotEmpty(name, brokers)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM namespaces WHERE id = $1`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeNamespace, id, "")
	})
}

func scanNamespace(rows pgx.Rows) (*controlplane.Namespace, error) {
	var ns controlplane.Namespace
	if err := rows.Scan(&ns.ID, &ns.AccountID, &ns.Name, &ns.Description, &ns.CreatedOn, &ns.ModifiedOn); err != nil {
		return nil, err
	}
	ns.CreatedOn, ns.ModifiedOn = ns.CreatedOn.UTC(), ns.ModifiedOn.UTC()
	return &ns, nil
}
