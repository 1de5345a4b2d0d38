package controlplane

import (
	"context"
	"crypto/subtle"
	"strings"
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

// NewAccount is the result of CreateAccount: the account and its secrets,
// which exist only here and are never shown again.
type NewAccount struct {
	Account  *Account
	APIKey   string
	APIToken string
}

// CreateAccount creates an account for email with a fresh global API key
// and API token. Returns EINVALID for a bad email, ECONFLICT when taken.
func (s *Service) CreateAccount(ctx context.Context, email string) (*NewAccount, error) {
	email = strings.TrimSpace(strings.ToLower(email))
	if at := strings.IndexByte(email, '@'); at < 1 || at == len(email)-1 || len(email) > 254 || strings.ContainsAny(email, " \t\r\n") {
		return nil, Errorf(EINVALID, "%q is not an email address", truncate(email))
	}
	key, tok := NewSecret(20)[:37], "pst_"+NewSecret(20)
	a := &Account{ID: NewID(), Email: email, CreatedOn: s.now(), KeyHash: HashSecret(key), TokenHash: HashSecret(tok)}
	if err := s.store.CreateAccount(ctx, a); err != nil {
		return nil, err
	}
	return &NewAccount{Account: a, APIKey: key, APIToken: tok}, nil
}

// AuthenticateKey returns the account for an email and global API key.
// Returns EBADCREDENTIALS without saying which part was wrong.
func (s *Service) AuthenticateKey(ctx context.Context, email, key string) (*Account, error) {
	a, err := s.store.FindAccountByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if ErrorCode(err) == ENOTFOUND {
		return nil, errBadCredentials
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(a.KeyHash, HashSecret(key)) != 1 {
		return nil, errBadCredentials
	}
	return a, nil
}

// AuthenticateToken returns the account for an API token.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Account, error) {
	a, err := s.store.FindAccountByTokenHash(ctx, HashSecret(token))
	if ErrorCode(err) == ENOTFOUND {
		return nil, errBadCredentials
	}
	return a, err
}

var errBadCredentials = Errorf(EBADCREDENTIALS, "Authentication failed: the API key, email or token is not valid. Check for stray spaces or quotes.")
