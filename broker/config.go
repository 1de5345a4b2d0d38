package broker

import "context"

// ConfigSource is where a node's States come from. The fleet client
// (broker/fleet) implements it against the control plane's config feed
// and a disk cache; tests build States by hand and apply them directly.
type ConfigSource interface {
	// Run calls apply with each new State, in order, until ctx ends or
	// the source fails for good. The first call should come as soon as
	// the source has any State (for instance from its disk cache), since
	// a node is not ready before it. apply must not be called
	// concurrently with itself; it returns quickly, as it only swaps a
	// pointer and schedules enforcement. Run returns ctx.Err() when ctx
	// ends, or the error that made it give up.
	Run(ctx context.Context, apply func(*State)) error
}

// KeyIssuer creates keys of self-signed tokens for a client of a node's
// edge (`POST /admin/keys`). A node holds no account credentials, so the
// fleet client implements it by forwarding the client's to the control
// plane, which checks them as its API does.
type KeyIssuer interface {
	// CreateSigningKey creates a key for broker brokerID. It returns an
	// *Error with code EUNAUTHENTICATED (creds missing or refused),
	// EFORBIDDEN (the broker is not the account's) or EUNAVAILABLE (the
	// control plane cannot be reached or failed).
	CreateSigningKey(ctx context.Context, brokerID string, creds AccountCredentials) (*NewSigningKey, error)
}

// AccountCredentials are a client's account credentials: an API token,
// or an email with an API key.
type AccountCredentials struct {
	APIToken      string
	Email, APIKey string
}

// NewSigningKey is a key just created: its id (the tokens' kid) and its
// value (the HMAC secret, shown this once).
type NewSigningKey struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}
