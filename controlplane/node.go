package controlplane

import (
	"context"
	"time"
)

// NodeToken authenticates a broker node to the control plane's config
// feed. Only the SHA-256 hash of the token is stored.
type NodeToken struct {
	ID        string
	Name      string
	TokenHash []byte
	CreatedOn time.Time
}

// NodeStore persists node tokens.
type NodeStore interface {
	// CreateNodeToken inserts t. Returns ECONFLICT when the name is taken.
	CreateNodeToken(ctx context.Context, t *NodeToken) error
	// FindNodeTokenByHash returns the token with this hash, or ENOTFOUND.
	FindNodeTokenByHash(ctx context.Context, hash []byte) (*NodeToken, error)
	// ListNodeTokens returns every node token, oldest first.
	ListNodeTokens(ctx context.Context) ([]*NodeToken, error)
	// DeleteNodeToken deletes a token by name. Returns ENOTFOUND.
	DeleteNodeToken(ctx context.Context, name string) error
}
