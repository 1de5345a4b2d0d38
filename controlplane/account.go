package controlplane

import (
	"context"
	"time"
)

// Account owns namespaces. Requests authenticate as an account, either with
// its email and global API key or with its API token. Only SHA-256 hashes of
// the key and token are stored; both are high-entropy random secrets.
type Account struct {
	ID        string
	Email     string
	CreatedOn time.Time

	KeyHash   []byte // SHA-256 of the global API key
	TokenHash []byte // SHA-256 of the API token
}

// AccountStore persists accounts.
type AccountStore interface {
	// CreateAccount inserts a. Returns ECONFLICT when the email is taken.
	CreateAccount(ctx context.Context, a *Account) error
	// FindAccount returns the account with this id, or ENOTFOUND.
	FindAccount(ctx context.Context, id string) (*Account, error)
	// FindAccountByEmail returns the account with this email, or ENOTFOUND.
	FindAccountByEmail(ctx context.Context, email string) (*Account, error)
	// FindAccountByTokenHash returns the account whose API token hashes to
	// hash, or ENOTFOUND.
	FindAccountByTokenHash(ctx context.Context, hash []byte) (*Account, error)
}
