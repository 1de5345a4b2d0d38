package sqlite

import (
	"context"
	"database/sql"

	"github.com/openpubsub/pubsub/controlplane"
)

const namespaceSelect = `SELECT id, account_id, name, description, created_on, modified_on FROM namespaces`

func scanNamespace(row scanner) (*controlplane.Namespace, error) {
	var ns controlplane.Namespace
	var createdOn, modifiedOn int64
	if err := row.Scan(&ns.ID, &ns.AccountID, &ns.Name, &ns.Description, &createdOn, &modifiedOn); err != nil {
		return nil, err
	}
	ns.CreatedOn, ns.ModifiedOn = fromMicros(createdOn), fromMicros(modifiedOn)
	return &ns, nil
}

// CreateNamespace inserts ns and records the change. Returns ECONFLICT
// (ErrNamespaceTaken) when any account already has the name, ENOTFOUND
// when the account does not exist.
func (s *Store) CreateNamespace(ctx context.Context, ns *controlplane.Namespace) error {
	ns.CreatedOn, ns.ModifiedOn = created(ns.CreatedOn, ns.ModifiedOn)
	return s.write(ctx, func(tx *tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO namespaces (id, account_id, name, description, created_on, modified_on)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			ns.ID, ns.AccountID, ns.Name, ns.Description, micros(ns.CreatedOn), micros(ns.ModifiedOn))
		switch violation(err) {
		case uniqueViolation:
			return controlplane.ErrNamespaceTaken(ns.Name)
		case foreignKeyViolation:
			return controlplane.Errorf(controlplane.ENOTFOUND, "account %q not found", ns.AccountID)
		}
		if err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeNamespace, ns.ID, "")
	})
}

// FindNamespace returns the account's namespace by name, or ENOTFOUND.
func (s *Store) FindNamespace(ctx context.Context, accountID, name string) (*controlplane.Namespace, error) {
	ns, err := scanNamespace(s.readDB.QueryRowContext(ctx, namespaceSelect+`
		WHERE account_id = $1 AND name = $2`, accountID, name))
	if isNoRows(err) {
		return nil, controlplane.ErrNamespaceNotFound(name)
	}
	return ns, interpretError(err)
}

// ListNamespaces returns one page of the account's namespaces, ordered by
// creation then id, and the total count.
func (s *Store) ListNamespaces(ctx context.Context, accountID string, p controlplane.Page) ([]*controlplane.Namespace, int, error) {
	var list []*controlplane.Namespace
	var total int
	err := s.read(ctx, func(tx *sql.Tx) error {
		limit, offset := limitOffset(p)
		var err error
		list, err = query(ctx, tx, scanNamespace, namespaceSelect+`
			WHERE account_id = $1 ORDER BY created_on, id LIMIT $2 OFFSET $3`, accountID, limit, offset)
		if err != nil {
			return err
		}
		total, err = count(ctx, tx, `SELECT count(*) FROM namespaces WHERE account_id = $1`, accountID)
		return err
	})
	return list, total, err
}

// DeleteNamespace deletes the account's namespace by name and records the
// change. Returns ENOTFOUND, or ENOTEMPTY (ErrNamespaceNotEmpty) naming
// its brokers in name order.
func (s *Store) DeleteNamespace(ctx context.Context, accountID, name string) error {
	return s.write(ctx, func(tx *tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM namespaces WHERE account_id = $1 AND name = $2`,
			accountID, name).Scan(&id)
		if isNoRows(err) {
			return controlplane.ErrNamespaceNotFound(name)
		} else if err != nil {
			return err
		}
		brokers, err := query(ctx, tx, scanString, `SELECT name FROM brokers WHERE namespace_id = $1 ORDER BY name`, id)
		if err != nil {
			return err
		}
		if len(brokers) > 0 {
			return controlplane.ErrNamespaceNotEmpty(name, brokers)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM namespaces WHERE id = $1`, id); err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeNamespace, id, "")
	})
}
