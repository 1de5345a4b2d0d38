package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
)

// CreateAccount inserts a. Returns ECONFLICT when the email is taken.
func (s *Store) CreateAccount(ctx context.Context, a *controlplane.Account) error {
	a.CreatedOn = ts(a.CreatedOn)
	_, err := s.pool.Exec(ctx, `
		INSERT INTO accounts (id, email, key_hash, token_hash, created_on)
		VALUES ($1, $2, $3, $4, $5)`,
		a.ID, a.Email, a.KeyHash, a.TokenHash, a.CreatedOn)
	if violated(err) == "accounts_email_key" {
		return controlplane.Errorf(controlplane.ECONFLICT, "an account with email %q already exists", a.Email)
	}
	return interpretError(err)
}

// FindAccount returns the account with this id, or ENOTFOUND.
func (s *Store) FindAccount(ctx context.Context, id string) (*controlplane.Account, error) {
	a, err := s.findAccount(ctx, "id", id)
	if isNoRows(err) {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "account %q not found", id)
	}
	return a, interpretError(err)
}

// FindAccountByEmail returns the account with this email, or ENOTFOUND.
func (s *Store) FindAccountByEmail(ctx context.Context, email string) (*controlplane.Account, error) {
	a, err := s.findAccount(ctx, "email", email)
	if isNoRows(err) {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "no account has email %q", email)
	}
	return a, interpretError(err)
}

// FindAccountByTokenHash returns the account whose API token hashes to
// hash, or ENOTFOUND. An empty hash matches no account.
func (s *Store) FindAccountByTokenHash(ctx context.Context, hash []byte) (*controlplane.Account, error) {
	var a *controlplane.Account
	err := pgx.ErrNoRows
	if len(hash) > 0 {
		a, err = s.findAccount(ctx, "token_hash", hash)
	}
	if isNoRows(err) {
		return nil, controlplane.Errorf(controlplane.ENOTFOUND, "no account has this API token")
	}
	return a, interpretError(err)
}

// findAccount looks an account up by one column; column is a constant.
func (s *Store) findAccount(ctx context.Context, column string, value any) (*controlplane.Account, error) {
	var a controlplane.Account
	err := s.pool.QueryRow(ctx, `
		SELECT id, email, key_hash, token_hash, created_on
		FROM accounts WHERE `+column+` = $1`, value).
		Scan(&a.ID, &a.Email, &a.KeyHash, &a.TokenHash, &a.CreatedOn)
	if err != nil {
		return nil, err
	}
	a.CreatedOn = a.CreatedOn.UTC()
	return &a, nil
}
