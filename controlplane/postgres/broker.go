package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

// brokerSelect selects the columns scanBroker reads.
const brokerSelect = `
	SELECT b.id, b.namespace_id, n.name, b.name, b.auth_type, b.description,
	       b.expiration, b.on_publish_url, b.created_on, b.modified_on,
	       b.self_signed_tokens, b.fastly_wildcards, b.on_publish_options
	FROM brokers b JOIN namespaces n ON n.id = b.namespace_id`

func scanBroker(rows pgx.Rows) (*controlplane.Broker, error) {
	var b controlplane.Broker
	var opts string
	err := rows.Scan(&b.ID, &b.NamespaceID, &b.NamespaceName, &b.Name, &b.AuthType, &b.Description,
		&b.Expiration, &b.OnPublishURL, &b.CreatedOn, &b.ModifiedOn, &b.SelfSignedTokens, &b.FastlyWildcards, &opts)
	if err != nil {
		return nil, err
	}
	if b.OnPublish, err = controlplane.ParseStoredOnPublish(opts); err != nil {
		return nil, err
	}
	b.CreatedOn, b.ModifiedOn = b.CreatedOn.UTC(), b.ModifiedOn.UTC()
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
	return s.write(ctx, func(tx pgx.Tx) error {
		// Key-share lock: the namespace cannot be deleted before we commit.
		err := tx.QueryRow(ctx, `SELECT name FROM namespaces WHERE id = $1 FOR KEY SHARE`, b.NamespaceID).
			Scan(&b.NamespaceName)
		if isNoRows(err) {
			return controlplane.ErrNamespaceNotFound(orElse(b.NamespaceName, b.NamespaceID))
		} else if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO brokers (id, namespace_id, name, auth_type, description, expiration,
			                     on_publish_url, created_on, modified_on, self_signed_tokens, fastly_wildcards,
			                     on_publish_options)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			b.ID, b.NamespaceID, b.Name, b.AuthType, b.Description, b.Expiration,
			b.OnPublishURL, b.CreatedOn, b.ModifiedOn, b.SelfSignedTokens, b.FastlyWildcards, b.OnPublish.StoredText())
		if violated(err) == "brokers_namespace_name_key" {
			return controlplane.ErrBrokerTaken(b.NamespaceName, b.Name)
		} else if err != nil {
			return err
		}
		for _, k := range keys {
			if err := insertKey(ctx, tx, k); err != nil {
				return err
			}
		}
		if err := recordChange(ctx, tx, controlplane.ChangeBroker, b.NamespaceID, b.ID); err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeKeys, b.NamespaceID, b.ID)
	})
}

// FindBroker returns a broker by account, namespace and broker name, with
// NamespaceName set. Returns ENOTFOUND: ErrNamespaceNotFound when the
// account has no such namespace, else ErrBrokerNotFound.
func (s *Store) FindBroker(ctx context.Context, accountID, namespace, name string) (*controlplane.Broker, error) {
	// One round trip answers both questions: the namespace row is there
	// whether or not the broker is.
	var nsID string
	var id, bname, authType, description, onPublishURL, opts *string
	var b controlplane.Broker
	var createdOn, modifiedOn *time.Time
	var selfSigned, wildcards *bool
	err := s.pool.QueryRow(ctx, `
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
	if id == nil {
		return nil, controlplane.ErrBrokerNotFound(namespace, name)
	}
	b.ID, b.NamespaceID, b.NamespaceName, b.Name = *id, nsID, namespace, *bname
	b.AuthType, b.Description, b.OnPublishURL = *authType, *description, *onPublishURL
	b.CreatedOn, b.ModifiedOn = createdOn.UTC(), modifiedOn.UTC()
	b.SelfSignedTokens, b.FastlyWildcards = *selfSigned, *wildcards
	if b.OnPublish, err = controlplane.ParseStoredOnPublish(*opts); err != nil {
		return nil, err
	}
	return &b, nil
}

// FindBrokerByID returns a broker by id, or ENOTFOUND.
func (s *Store) FindBrokerByID(ctx context.Context, id string) (*controlplane.Broker, error) {
	b, err := findBrokerByID(ctx, s.pool, id)
	return b, interpretError(err)
}

func findBrokerByID(ctx context.Context, q querier, id string) (*controlplane.Broker, error) {
	rows, err := q.Query(ctx, brokerSelect+` WHERE b.id = $1`, id)
	if err != nil {
		return nil, err
	}
	list, err := collect(rows, scanBroker)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, errBrokerIDNotFound(id)
	}
	return list[0], nil
}

func errBrokerIDNotFound(id string) error {
	return controlplane.Errorf(controlplane.ENOTFOUND, "broker %q not found", id)
}

// ListBrokers returns one page of a namespace's brokers ordered by creation
// then id, and the total. Returns ENOTFOUND for an unknown namespace.
func (s *Store) ListBrokers(ctx context.Context, accountID, namespace string, p controlplane.Page) ([]*controlplane.Broker, int, error) {
	var nsID string
	err := s.pool.QueryRow(ctx, `SELECT id FROM namespaces WHERE account_id = $1 AND name = $2`,
		accountID, namespace).Scan(&nsID)
	if isNoRows(err) {
		return nil, 0, controlplane.ErrNamespaceNotFound(namespace)
	} else if err != nil {
		return nil, 0, interpretError(err)
	}
	limit, offset := limitOffset(p)
	rows, err := s.pool.Query(ctx, brokerSelect+`
		WHERE b.namespace_id = $1 ORDER BY b.created_on, b.id LIMIT $2 OFFSET $3`, nsID, limit, offset)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	list, err := collect(rows, scanBroker)
	if err != nil {
		return nil, 0, interpretError(err)
	}
	total, err := count(ctx, s.pool, `SELECT count(*) FROM brokers WHERE namespace_id = $1`, nsID)
	if err != nil {
		return nil, 0, interpretError(err)
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
	return s.write(ctx, func(tx pgx.Tx) error {
		var nsID string
		err := tx.QueryRow(ctx, `
			UPDATE brokers SET description = $2, expiration = $3, on_publish_url = $4, modified_on = $5,
			                   self_signed_tokens = $6, fastly_wildcards = $7, on_publish_options = $8
			WHERE id = $1 RETURNING namespace_id`,
			b.ID, b.Description, b.Expiration, b.OnPublishURL, b.ModifiedOn,
			b.SelfSignedTokens, b.FastlyWildcards, b.OnPublish.StoredText()).Scan(&nsID)
		if isNoRows(err) {
			return errBrokerIDNotFound(b.ID)
		} else if err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeBroker, nsID, b.ID)
	})
}

// DeleteBroker deletes the broker with this id and everything it owns
// (keys, credentials, revocations, by cascade) and records the change.
// Returns ENOTFOUND.
func (s *Store) DeleteBroker(ctx context.Context, id string) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		var nsID string
		err := tx.QueryRow(ctx, `DELETE FROM brokers WHERE id = $1 RETURNING namespace_id`, id).Scan(&nsID)
		if isNoRows(err) {
			return errBrokerIDNotFound(id)
		} else if err != nil {
			return err
		}
		return recordChange(ctx, tx, controlplane.ChangeBroker, nsID, id)
	})
}

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
