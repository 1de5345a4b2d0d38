package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// brokerSelect selects the columns scanBroker reads.
const brokerSelect = `
	SELECT b.id, b.namespace_id, n.name, b.name, b.auth_type, b.description,
	       b.expiration, b.on_publish_url, b.created_on, b.modified_on,
	       b.self_signed_tokens, b.fastly_wildcards, b.on_publish_options
	FROM brokers b JOIN namespaces n ON n.id = b.namespace_id`

func scanBroker(row scanner) (*controlplane.Broker, error) {
	var b controlplane.Broker
	var createdOn, modifiedOn int64
	var opts string
	err := row.Scan(&b.ID, &b.NamespaceID, &b.NamespaceName, &b.Name, &b.AuthType, &b.Description,
		&b.Expiration, &b.OnPublishURL, &createdOn, &modifiedOn, &b.SelfSignedTokens, &b.FastlyWildcards, &opts)
	if err != nil {
		return nil, err
	}
	if b.OnPublish, err = controlplane.ParseStoredOnPublish(opts); err != nil {
		return nil, err
	}
	b.CreatedOn, b.ModifiedOn = fromMicros(createdOn), fromMicros(modifiedOn)
	return &b, nil
}

// CreateBroker inserts b with its first signing keys, fills b.NamespaceName
// and the keys' BrokerID, and records the change. Returns ECONFLICT
// (ErrBrokerTaken), or ENOTFOUND when the namespace does not exist.
func (s *Store) CreateBroker(ctx context.Context, b *controlplane.Broker, keys []*controlplane.SigningKey) error {
	b.CreatedOn, b.ModifiedOn = created(b.CreatedOn, b.ModifiedOn)
	for _, k := range keys {
		k.BrokerID = b.ID
		k.CreatedOn, k.ModifiedOn = created(k.CreatedOn, k.ModifiedOn)
	}
	return s.write(ctx, func(tx *tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name FROM namespaces WHERE id = $1`, b.NamespaceID).Scan(&b.NamespaceName)
		if isNoRows(err) {
			return controlplane.ErrNamespaceNotFound(orElse(b.NamespaceName, b.NamespaceID))
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO brokers (id, namespace_id, name, auth_type, description, expiration,
			                     on_publish_url, created_on, modified_on, self_signed_tokens, fastly_wildcards,
			                     on_publish_options)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			b.ID, b.NamespaceID, b.Name, b.AuthType, b.Description, b.Expiration,
			b.OnPublishURL, micros(b.CreatedOn), micros(b.ModifiedOn), b.SelfSignedTokens, b.FastlyWildcards, b.OnPublish.StoredText())
		if violation(err) == uniqueViolation {
			return controlplane.ErrBrokerTaken(b.NamespaceName, b.Name)
		} else if err != nil {
			return err
		}
		for _, k := range keys {
			if err := insertKey(ctx, tx, k); err != nil {
				return err
			}
		}
		if err := tx.recordChange(ctx, controlplane.ChangeBroker, b.NamespaceID, b.ID); err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeKeys, b.NamespaceID, b.ID)
	})
}

// FindBroker returns a broker by account, namespace and broker name, with
// NamespaceName set. Returns ENOTFOUND: ErrNamespaceNotFound when the
// account has no such namespace, else ErrBrokerNotFound.
func (s *Store) FindBroker(ctx context.Context, accountID, namespace, name string) (*controlplane.Broker, error) {
	// One query answers both questions: the namespace row is there
	// whether or not the broker is.
	var nsID string
	var id, bname, authType, description, onPublishURL, opts sql.NullString
	var createdOn, modifiedOn sql.NullInt64
	var selfSigned, wildcards sql.NullBool
	var b controlplane.Broker
	err := s.readDB.QueryRowContext(ctx, `
		SELECT n.id, b.id, b.name, b.auth_type, b.description, b.expiration,
		       b.on_publish_url, b.created_on, b.modified_on, b.self_signed_tokens, b.fastly_wildcards,
		       b.on_publish_options
		FROM namespaces n
		LEFT JOIN brokers b ON b.namespace_id = n.id AND b.name = $3
		WHERE n.account_id = $1 AND n.name = $2`, accountID, namespace, name).
		Scan(&nsID, &id, &bname, &authType, &description, &b.Expiration,
			&onPublishURL, &createdOn, &modifiedOn, &selfSigned, &wildcards, &opts)
	if isNoRows(err) {
		return nil, controlplane.ErrNamespaceNotFound(namespace)
	} else if err != nil {
		return nil, interpretError(err)
	}
	if !id.Valid {
		return nil, controlplane.ErrBrokerNotFound(namespace, name)
	}
	b.ID, b.NamespaceID, b.NamespaceName, b.Name = id.String, nsID, namespace, bname.String
	b.AuthType, b.Description, b.OnPublishURL = authType.String, description.String, onPublishURL.String
	b.CreatedOn, b.ModifiedOn = fromMicros(createdOn.Int64), fromMicros(modifiedOn.Int64)
	b.SelfSignedTokens, b.FastlyWildcards = selfSigned.Bool, wildcards.Bool
	if b.OnPublish, err = controlplane.ParseStoredOnPublish(opts.String); err != nil {
		return nil, err
	}
	return &b, nil
}

// FindBrokerByID returns a broker by id, or ENOTFOUND.
func (s *Store) FindBrokerByID(ctx context.Context, id string) (*controlplane.Broker, error) {
	b, err := scanBroker(s.readDB.QueryRowContext(ctx, brokerSelect+` WHERE b.id = $1`, id))
	if isNoRows(err) {
		return nil, errBrokerIDNotFound(id)
	}
	return b, interpretError(err)
}

func errBrokerIDNotFound(id string) error {
	return controlplane.Errorf(controlplane.ENOTFOUND, "broker %q not found", id)
}

// ListBrokers returns one page of a namespace's brokers ordered by creation
// then id, and the total. Returns ENOTFOUND for an unknown namespace.
func (s *Store) ListBrokers(ctx context.Context, accountID, namespace string, p controlplane.Page) ([]*controlplane.Broker, int, error) {
	var list []*controlplane.Broker
	var total int
	err := s.read(ctx, func(tx *sql.Tx) error {
		var nsID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM namespaces WHERE account_id = $1 AND name = $2`,
			accountID, namespace).Scan(&nsID)
		if isNoRows(err) {
			return controlplane.ErrNamespaceNotFound(namespace)
		} else if err != nil {
			return err
		}
		limit, offset := limitOffset(p)
		list, err = query(ctx, tx, scanBroker, brokerSelect+`
			WHERE b.namespace_id = $1 ORDER BY b.created_on, b.id LIMIT $2 OFFSET $3`, nsID, limit, offset)
		if err != nil {
			return err
		}
		total, err = count(ctx, tx, `SELECT count(*) FROM brokers WHERE namespace_id = $1`, nsID)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// UpdateBroker writes b's Description, Expiration, OnPublishURL, OnPublish,
// SelfSignedTokens, FastlyWildcards and ModifiedOn, and records the change. Returns ENOTFOUND.
func (s *Store) UpdateBroker(ctx context.Context, b *controlplane.Broker) error {
	if b.ModifiedOn.IsZero() {
		b.ModifiedOn = time.Now()
	}
	b.ModifiedOn = ts(b.ModifiedOn)
	return s.write(ctx, func(tx *tx) error {
		var nsID string
		err := tx.QueryRowContext(ctx, `
			UPDATE brokers SET description = $2, expiration = $3, on_publish_url = $4, modified_on = $5,
			                   self_signed_tokens = $6, fastly_wildcards = $7, on_publish_options = $8
			WHERE id = $1 RETURNING namespace_id`,
			b.ID, b.Description, b.Expiration, b.OnPublishURL, micros(b.ModifiedOn),
			b.SelfSignedTokens, b.FastlyWildcards, b.OnPublish.StoredText()).Scan(&nsID)
		if isNoRows(err) {
			return errBrokerIDNotFound(b.ID)
		} else if err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeBroker, nsID, b.ID)
	})
}

// DeleteBroker deletes the broker with this id and everything it owns
// (keys, credentials, revocations, by cascade) and records the change.
// Returns ENOTFOUND.
func (s *Store) DeleteBroker(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *tx) error {
		var nsID string
		err := tx.QueryRowContext(ctx, `DELETE FROM brokers WHERE id = $1 RETURNING namespace_id`, id).Scan(&nsID)
		if isNoRows(err) {
			return errBrokerIDNotFound(id)
		} else if err != nil {
			return err
		}
		return tx.recordChange(ctx, controlplane.ChangeBroker, nsID, id)
	})
}
