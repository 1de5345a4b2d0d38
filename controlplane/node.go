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

// CreateNodeToken creates a node credential named name and returns the
// token, which is shown once. Returns EINVALIDNAME or ECONFLICT.
func (s *Service) CreateNodeToken(ctx context.Context, name string) (string, error) {
	n, err := NormalizeName("node", name)
	if err != nil {
		return "", err
	}
	tok := "psn_" + NewSecret(24)
	if err := s.store.CreateNodeToken(ctx, &NodeToken{ID: NewID(), Name: n, TokenHash: HashSecret(tok), CreatedOn: s.now()}); err != nil {
		return "", err
	}
	return tok, nil
}

// AuthenticateNode returns the node token matching tok, or EBADCREDENTIALS.
func (s *Service) AuthenticateNode(ctx context.Context, tok string) (*NodeToken, error) {
	t, err := s.store.FindNodeTokenByHash(ctx, HashSecret(tok))
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EBADCREDENTIALS, "the node token is not valid; create one with `pubsub node token create`")
	}
	return t, err
}
