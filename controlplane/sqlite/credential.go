package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// CreateCredentials inserts the metadata of freshly minted tokens in one
// transaction with one prepared statement. It is on the minting hot path.
// Returns ECONFLICT when a jti already exists for its broker, ENOTFOUND
// when the broker does not exist.
func (s *Store) CreateCredentials(ctx context.Context, creds []*controlplane.Credential) error {
	if len(creds) == 0 {
		return nil
	}
	for _, c := range creds {
		c.IssuedAt, c.ExpiresAt = ts(c.IssuedAt), tsPtr(c.ExpiresAt)
	}
	return s.write(ctx, func(tx *tx) error {
		stmt := tx.StmtContext(ctx, s.insertCredential)
		defer stmt.Close()
		for _, c := range creds {
			_, err := stmt.ExecContext(ctx, c.BrokerID, c.JTI, c.ClientID, c.KeyID,
				micros(c.IssuedAt), microsPtr(c.ExpiresAt),
				encodeACL(c.TopicACL), encodeACL(c.PublishACL), encodeACL(c.SubscribeACL))
			switch violation(err) {
			case primaryKeyViolation:
				return errCredentialExists()
			case foreignKeyViolation:
				return errBrokerIDNotFound(c.BrokerID)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func errCredentialExists() error {
	return controlplane.Errorf(controlplane.ECONFLICT, "a credential with one of these jtis already exists")
}

// encodeACL stores an ACL list as a JSON array, and nil (no such claim) as
// NULL, so that nil and empty stay distinct.
func encodeACL(acl []string) any {
	if acl == nil {
		return nil
	}
	b, _ := json.Marshal(acl) // a []string always marshals
	return string(b)
}

func decodeACL(s sql.NullString) ([]string, error) {
	if !s.Valid {
		return nil, nil
	}
	acl := []string{}
	if err := json.Unmarshal([]byte(s.String), &acl); err != nil {
		return nil, fmt.Errorf("decode ACL %q: %w", s.String, err)
	}
	return acl, nil
}

const credentialSelect = `
	SELECT broker_id, jti, client_id, key_id, issued_at, expires_at, topic_acl, publish_acl, subscribe_acl
	FROM credentials`

func scanCredential(row scanner) (*controlplane.Credential, error) {
	var c controlplane.Credential
	var issuedAt int64
	var expiresAt sql.NullInt64
	var topic, publish, subscribe sql.NullString
	err := row.Scan(&c.BrokerID, &c.JTI, &c.ClientID, &c.KeyID, &issuedAt, &expiresAt, &topic, &publish, &subscribe)
	if err != nil {
		return nil, err
	}
	c.IssuedAt, c.ExpiresAt = fromMicros(issuedAt), fromNullMicros(expiresAt)
	if c.TopicACL, err = decodeACL(topic); err != nil {
		return nil, err
	}
	if c.PublishACL, err = decodeACL(publish); err != nil {
		return nil, err
	}
	if c.SubscribeACL, err = decodeACL(subscribe); err != nil {
		return nil, err
	}
	return &c, nil
}

// FindCredential returns one credential of the broker, or ENOTFOUNDJTI.
func (s *Store) FindCredential(ctx context.Context, brokerID, jti string) (*controlplane.Credential, error) {
	c, err := scanCredential(s.readDB.QueryRowContext(ctx, credentialSelect+`
		WHERE broker_id = $1 AND jti = $2`, brokerID, jti))
	if isNoRows(err) {
		return nil, errJTIsNotIssued([]string{jti})
	}
	return c, interpretError(err)
}

// ListCredentials returns one page of the broker's credentials, newest
// first (by issue time, then jti descending), and the total.
func (s *Store) ListCredentials(ctx context.Context, brokerID string, p controlplane.Page) ([]*controlplane.Credential, int, error) {
	var list []*controlplane.Credential
	var total int
	err := s.read(ctx, func(tx *sql.Tx) error {
		limit, offset := limitOffset(p)
		var err error
		list, err = query(ctx, tx, scanCredential, credentialSelect+`
			WHERE broker_id = $1 ORDER BY issued_at DESC, jti DESC LIMIT $2 OFFSET $3`, brokerID, limit, offset)
		if err != nil {
			return err
		}
		total, err = count(ctx, tx, `SELECT count(*) FROM credentials WHERE broker_id = $1`, brokerID)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// jsonList encodes a list of strings as a JSON array, which queries expand
// with json_each: SQLite has no array parameters.
func jsonList(list []string) string {
	b, _ := json.Marshal(list)
	return string(b)
}

// RevokeCredentials revokes the given jtis of the broker at time now and
// records one change per jti it revokes. Already revoked jtis are left as
// they are. Returns ENOTFOUNDJTI naming every jti the broker never issued
// (and revokes none), or EREVOCATIONLIMIT when more than limit unexpired
// revocations would exist (revoking a token that has already expired
// takes no room).
func (s *Store) RevokeCredentials(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int) error {
	return s.revoke(ctx, brokerID, jtis, now, limit, false)
}

// RevokeSelfSigned is RevokeCredentials for a broker with self-signed
// tokens, whose jtis the broker never issued: a jti without credential is
// revoked too, with no expiry (the token's exp is unknown).
func (s *Store) RevokeSelfSigned(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int) error {
	return s.revoke(ctx, brokerID, jtis, now, limit, true)
}

func (s *Store) revoke(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int, anyJTI bool) error {
	jtis = dedupe(jtis)
	if len(jtis) == 0 {
		return nil
	}
	now = ts(now)
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, brokerID)
		if controlplane.ErrorCode(err) == controlplane.ENOTFOUND {
			return errJTIsNotIssued(jtis)
		} else if err != nil {
			return err
		}
		type issued struct {
			expiresAt sql.NullInt64
			revoked   bool
		}
		found := map[string]issued{}
		rows, err := tx.QueryContext(ctx, `
			SELECT c.jti, c.expires_at, r.jti IS NOT NULL
			FROM credentials c
			LEFT JOIN revocations r ON r.broker_id = c.broker_id AND r.jti = c.jti
			WHERE c.broker_id = $1 AND c.jti IN (SELECT value FROM json_each($2))`, brokerID, jsonList(jtis))
		if err != nil {
			return err
		}
		_, err = collect(rows, func(row scanner) (struct{}, error) {
			var jti string
			var v issued
			err := row.Scan(&jti, &v.expiresAt, &v.revoked)
			found[jti] = v
			return struct{}{}, err
		})
		if err != nil {
			return err
		}
		var unknown, revoke, selfSigned []string
		added := 0 // revocations that will count against the limit
		var already map[string]bool
		if anyJTI {
			revoked, err := query(ctx, tx, scanString, `
				SELECT jti FROM revocations
				WHERE broker_id = $1 AND jti IN (SELECT value FROM json_each($2))`, brokerID, jsonList(jtis))
			if err != nil {
				return err
			}
			already = set(revoked)
		}
		for _, jti := range jtis {
			v, ok := found[jti]
			switch {
			case !ok && anyJTI:
				if !already[jti] {
					selfSigned = append(selfSigned, jti)
					added++
				}
			case !ok:
				unknown = append(unknown, jti)
			case !v.revoked:
				revoke = append(revoke, jti)
				if !v.expiresAt.Valid || v.expiresAt.Int64 > micros(now) {
					added++
				}
			}
		}
		if len(unknown) > 0 {
			return errJTIsNotIssued(unknown)
		}
		if len(revoke) == 0 && len(selfSigned) == 0 {
			return nil
		}
		if added > 0 {
			inUse, err := count(ctx, tx, `
				SELECT count(*) FROM revocations
				WHERE broker_id = $1 AND (expires_at IS NULL OR expires_at > $2)`, brokerID, micros(now))
			if err != nil {
				return err
			}
			if inUse+added > limit {
				return errRevocationLimit(added, limit, inUse)
			}
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO revocations (broker_id, jti, revoked_at, expires_at)
			SELECT broker_id, jti, $3, expires_at FROM credentials
			WHERE broker_id = $1 AND jti IN (SELECT value FROM json_each($2))`,
			brokerID, jsonList(revoke), micros(now))
		if err != nil {
			return err
		}
		if len(selfSigned) > 0 {
			_, err = tx.ExecContext(ctx, `
				INSERT INTO revocations (broker_id, jti, revoked_at, expires_at)
				SELECT $1, value, $3, NULL FROM json_each($2)`,
				brokerID, jsonList(selfSigned), micros(now))
			if err != nil {
				return err
			}
		}
		return tx.recordChanges(ctx, controlplane.ChangeRevocation, nsID, brokerID, inOrder(jtis, revoke, selfSigned))
	})
}

// UnrevokeCredentials removes revocations and records one change per jti
// it unrevokes; a jti that is issued but not revoked is left alone.
// Returns ENOTFOUNDJTI naming every jti the broker never issued (and
// removes none).
func (s *Store) UnrevokeCredentials(ctx context.Context, brokerID string, jtis []string) error {
	return s.unrevoke(ctx, brokerID, jtis, false)
}

// UnrevokeSelfSigned is UnrevokeCredentials for a broker with self-signed
// tokens: jtis the broker never issued are unrevoked too.
func (s *Store) UnrevokeSelfSigned(ctx context.Context, brokerID string, jtis []string) error {
	return s.unrevoke(ctx, brokerID, jtis, true)
}

func (s *Store) unrevoke(ctx context.Context, brokerID string, jtis []string, anyJTI bool) error {
	jtis = dedupe(jtis)
	if len(jtis) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *tx) error {
		nsID, err := brokerNamespace(ctx, tx, brokerID)
		if controlplane.ErrorCode(err) == controlplane.ENOTFOUND {
			return errJTIsNotIssued(jtis)
		} else if err != nil {
			return err
		}
		issued, err := query(ctx, tx, scanString, `
			SELECT jti FROM credentials
			WHERE broker_id = $1 AND jti IN (SELECT value FROM json_each($2))`, brokerID, jsonList(jtis))
		if err != nil {
			return err
		}
		if unknown := missing(jtis, issued); len(unknown) > 0 && !anyJTI {
			return errJTIsNotIssued(unknown)
		}
		deleted, err := query(ctx, tx, scanString, `
			DELETE FROM revocations
			WHERE broker_id = $1 AND jti IN (SELECT value FROM json_each($2)) RETURNING jti`,
			brokerID, jsonList(jtis))
		if err != nil {
			return err
		}
		if len(deleted) == 0 {
			return nil
		}
		// Record in request order, not in the order DELETE happened to return.
		unrevoked := make([]string, 0, len(deleted))
		gone := set(deleted)
		for _, jti := range jtis {
			if gone[jti] {
				unrevoked = append(unrevoked, jti)
			}
		}
		return tx.recordChanges(ctx, controlplane.ChangeRevocation, nsID, brokerID, unrevoked)
	})
}

const revocationSelect = `SELECT jti, broker_id, revoked_at, expires_at FROM revocations`

func scanRevocation(row scanner) (*controlplane.Revocation, error) {
	var r controlplane.Revocation
	var revokedAt int64
	var expiresAt sql.NullInt64
	if err := row.Scan(&r.JTI, &r.BrokerID, &revokedAt, &expiresAt); err != nil {
		return nil, err
	}
	r.RevokedAt, r.ExpiresAt = fromMicros(revokedAt), fromNullMicros(expiresAt)
	return &r, nil
}

// ListRevocations returns one page of the broker's revocations whose token
// has not expired at now, oldest first (by revocation time, then jti), and
// the total.
func (s *Store) ListRevocations(ctx context.Context, brokerID string, now time.Time, p controlplane.Page) ([]*controlplane.Revocation, int, error) {
	at := micros(ts(now))
	var list []*controlplane.Revocation
	var total int
	err := s.read(ctx, func(tx *sql.Tx) error {
		limit, offset := limitOffset(p)
		var err error
		list, err = query(ctx, tx, scanRevocation, revocationSelect+`
			WHERE broker_id = $1 AND (expires_at IS NULL OR expires_at > $2)
			ORDER BY revoked_at, jti LIMIT $3 OFFSET $4`, brokerID, at, limit, offset)
		if err != nil {
			return err
		}
		total, err = count(ctx, tx, `
			SELECT count(*) FROM revocations
			WHERE broker_id = $1 AND (expires_at IS NULL OR expires_at > $2)`, brokerID, at)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return list, total, nil
}

// FindRevocation returns the revocation of jti, or ENOTFOUND when it is
// not (or no longer) revoked.
func (s *Store) FindRevocation(ctx context.Context, brokerID, jti string) (*controlplane.Revocation, error) {
	r, err := scanRevocation(s.readDB.QueryRowContext(ctx, revocationSelect+`
		WHERE broker_id = $1 AND jti = $2`, brokerID, jti))
	if isNoRows(err) {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "jti %q is not revoked", jti)
	}
	return r, interpretError(err)
}

// PurgeRevocations deletes revocations of tokens that have expired at now
// (expires_at <= now, the ones ListRevocations no longer shows) and
// returns how many it deleted. It records no change: broker nodes drop
// expired revocations by themselves.
func (s *Store) PurgeRevocations(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM revocations WHERE expires_at <= $1`, micros(ts(now)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// errJTIsNotIssued names the jtis the broker never issued.
func errJTIsNotIssued(jtis []string) error {
	if len(jtis) == 1 {
		return controlplane.Errorf(controlplane.ENOTFOUNDJTI, "jti %q was not issued by this broker", jtis[0])
	}
	quoted := make([]string, len(jtis))
	for i, j := range jtis {
		quoted[i] = fmt.Sprintf("%q", j)
	}
	return controlplane.Errorf(controlplane.ENOTFOUNDJTI, "jtis %s were not issued by this broker", strings.Join(quoted, ", "))
}

func errRevocationLimit(adding, limit, inUse int) error {
	return controlplane.Errorf(controlplane.EREVOCATIONLIMIT,
		"revoking %d more credentials would exceed the limit of %d unexpired revocations per broker (%d in use); "+
			"unrevoke credentials, or wait for revoked tokens to expire, to free room", adding, limit, inUse)
}

// dedupe returns jtis without repeats, in first-seen order.
func dedupe(jtis []string) []string {
	seen := make(map[string]bool, len(jtis))
	out := make([]string, 0, len(jtis))
	for _, j := range jtis {
		if !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	return out
}

// missing returns the elements of want absent from have, in want's order.
func missing(want, have []string) []string {
	h := set(have)
	var out []string
	for _, w := range want {
		if !h[w] {
			out = append(out, w)
		}
	}
	return out
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// inOrder returns the jtis of want that are in a or b, in want's order:
// changes are recorded in request order.
func inOrder(want, a, b []string) []string {
	in := set(a)
	for _, j := range b {
		in[j] = true
	}
	out := make([]string, 0, len(a)+len(b))
	for _, j := range want {
		if in[j] {
			out = append(out, j)
		}
	}
	return out
}
