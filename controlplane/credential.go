package controlplane

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/openpubsub/pubsub/pkg/token"
)

// Credential is the stored metadata of one minted token. The token itself
// is never stored: it is returned once, at minting.
type Credential struct {
	JTI          string
	BrokerID     string
	ClientID     string
	KeyID        string
	IssuedAt     time.Time
	ExpiresAt    *time.Time // nil when the token has no exp claim
	TopicACL     []string
	PublishACL   []string // nil when the token has no publishAcl claim
	SubscribeACL []string // nil when the token has no subscribeAcl claim
}

// Revocation marks a credential as revoked. ExpiresAt copies the token's
// expiry so that the entry drops off by itself once the token is dead anyway.
type Revocation struct {
	JTI       string
	BrokerID  string
	RevokedAt time.Time
	ExpiresAt *time.Time
}

// CredentialStore persists credential metadata and revocations. Revocation
// changes also append to the change feed in the same transaction.
type CredentialStore interface {
	// CreateCredentials inserts the metadata of freshly minted tokens, all in
	// one transaction.
	CreateCredentials(ctx context.Context, creds []*Credential) error
	// FindCredential returns one credential of the broker, or ENOTFOUNDJTI.
	FindCredential(ctx context.Context, brokerID, jti string) (*Credential, error)
	// ListCredentials returns one page of the broker's credentials, newest
	// first, and the total.
	ListCredentials(ctx context.Context, brokerID string, p Page) ([]*Credential, int, error)

	// RevokeCredentials revokes the given jtis of the broker at time now.
	// Already revoked jtis are left as they are. Returns ENOTFOUNDJTI naming
	// every jti the broker never issued (and revokes none), or
	// EREVOCATIONLIMIT when more than limit unexpired revocations would exist.
	RevokeCredentials(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int) error
	// UnrevokeCredentials removes revocations. Returns ENOTFOUNDJTI naming
	// every jti the broker never issued (and removes none).
	UnrevokeCredentials(ctx context.Context, brokerID string, jtis []string) error
	// RevokeSelfSigned and UnrevokeSelfSigned are RevokeCredentials and
	// UnrevokeCredentials for a broker with self-signed tokens, whose
	// customers choose their jtis: a jti the broker never issued is
	// (un)revoked too, never ENOTFOUNDJTI. Its revocation has no expiry.
	RevokeSelfSigned(ctx context.Context, brokerID string, jtis []string, now time.Time, limit int) error
	UnrevokeSelfSigned(ctx context.Context, brokerID string, jtis []string) error
	// ListRevocations returns one page of the broker's revocations whose
	// token has not expired at now, oldest first, and the total.
	ListRevocations(ctx context.Context, brokerID string, now time.Time, p Page) ([]*Revocation, int, error)
	// PurgeRevocations deletes revocations of tokens that expired before now
	// and returns how many it deleted.
	PurgeRevocations(ctx context.Context, now time.Time) (int, error)
}

// MaxMint is the most credentials one call mints.
const MaxMint = 100

// MaxClientID is the longest client id, in bytes, a credential may carry.
const MaxClientID = 128

// MintRequest asks for new credentials of a broker.
type MintRequest struct {
	Number       int      // 0 means the default: 1, or len(ClientIDs)
	Type         string   // must be "TOKEN"; "" means TOKEN
	TopicACL     []string // empty values are dropped; none left means "#"
	PublishACL   []string // nil: no narrowing
	SubscribeACL []string // nil: no narrowing
	ClientIDs    []string // mint for exactly these ids; nil: generate
	Expiration   *int64   // seconds, at most MaxExpiration; -1: no exp unless the broker sets one; nil: the broker's
}

// Minted is one minted credential: the token is shown once and never stored.
type Minted struct {
	ClientID string
	Token    string
}

// MintCredentials signs new tokens with the broker's current key and stores
// their metadata. Returns ENOTFOUND, EINVALIDCREDPARAM (including claims
// too long for one token) or EINVALIDTOPIC.
func (s *Service) MintCredentials(ctx context.Context, accountID, namespace, name string, r MintRequest) ([]Minted, error) {
	if err := r.normalize(); err != nil {
		return nil, err
	}
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	kid, priv, err := s.signingKey(ctx, b.ID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	exp := expiry(now, b.Expiration, r.Expiration)
	ids := r.ClientIDs
	if ids == nil {
		ids = make([]string, r.Number)
		for i := range ids {
			ids[i] = b.Name + NewULID(now)
		}
	}
	aud := b.Hostname(s.cfg.Domain)
	out := make([]Minted, len(ids))
	creds := make([]*Credential, len(ids))
	for i, id := range ids {
		c := &Credential{
			JTI: NewULID(now), BrokerID: b.ID, ClientID: id, KeyID: kid, IssuedAt: now.Truncate(time.Second), ExpiresAt: exp,
			TopicACL: r.TopicACL, PublishACL: r.PublishACL, SubscribeACL: r.SubscribeACL,
		}
		claims := &token.Claims{Subject: id, ID: c.JTI, Audience: aud, IssuedAt: c.IssuedAt.Unix(), TopicACL: c.TopicACL, PublishACL: c.PublishACL, SubscribeACL: c.SubscribeACL}
		if exp != nil {
			claims.ExpiresAt = exp.Unix()
		}
		tok, err := signCredential(priv, kid, claims)
		if err != nil {
			return nil, err
		}
		out[i], creds[i] = Minted{ClientID: id, Token: tok}, c
	}
	if err := s.store.CreateCredentials(ctx, creds); err != nil {
		return nil, err
	}
	return out, nil
}

// signCredential signs claims that passed MintRequest.normalize. Claims too
// long for one token are the caller's input, hence EINVALIDCREDPARAM; any
// other refusal of token.Sign is a bug of ours.
func signCredential(priv ed25519.PrivateKey, kid string, c *token.Claims) (string, error) {
	tok, err := token.Sign(priv, kid, c)
	var size *token.SizeError
	if errors.As(err, &size) {
		return "", Errorf(EINVALIDCREDPARAM, "the credential would be a token of %d bytes; the limit is %d: use fewer or shorter ACL filters", size.Size, token.MaxSize)
	}
	return tok, err
}

// effectiveLifetime is the shorter of the broker's and the request's
// lifetimes, in seconds, at most MaxExpiration; nil when neither sets one.
func effectiveLifetime(broker, req *int64) *int64 {
	broker = ClampExpiration(broker)
	if req == nil || *req == -1 {
		return broker
	}
	if broker == nil || *req < *broker {
		return ClampExpiration(req)
	}
	return broker
}

// expiry is the exp of a credential minted at now, truncated to the
// second; nil for none. The lifetimes are at most MaxExpiration, so the
// sum stays far from overflow; it is done in Unix seconds all the same.
func expiry(now time.Time, broker, req *int64) *time.Time {
	life := effectiveLifetime(broker, req)
	if life == nil {
		return nil
	}
	t := time.Unix(now.Unix()+*life, 0).UTC()
	return &t
}

// normalize applies defaults and validates r.
func (r *MintRequest) normalize() error {
	if r.Type != "" && r.Type != AuthTypeToken {
		return Errorf(EINVALIDCREDPARAM, "type %q is not supported; the supported value is %q", truncate(r.Type), AuthTypeToken)
	}
	if r.ClientIDs != nil {
		// number=1 is wrangler's default, sent with every clientid list
		// (`wrangler pubsub broker issue --client-id a b`): it means "not
		// given". Any other number must match the list.
		if r.Number > 1 && r.Number != len(r.ClientIDs) {
			return Errorf(EINVALIDCREDPARAM, "number=%d does not match the %d clientid values given; omit number, send number=1 or make them equal", r.Number, len(r.ClientIDs))
		}
		r.Number = len(r.ClientIDs)
		seen := make(map[string]bool, len(r.ClientIDs))
		for _, id := range r.ClientIDs {
			if err := validateClientID(id); err != nil {
				return err
			}
			if seen[id] {
				return Errorf(EINVALIDCREDPARAM, "clientid %q is given twice", truncate(id))
			}
			seen[id] = true
		}
	}
	if r.Number == 0 {
		r.Number = 1
	}
	if r.Number < 1 || r.Number > MaxMint {
		return Errorf(EINVALIDCREDPARAM, "number must be between 1 and %d, got %d", MaxMint, r.Number)
	}
	if r.Expiration != nil && (*r.Expiration == 0 || *r.Expiration < -1) {
		return Errorf(EINVALIDCREDPARAM, "expiration must be a positive number of seconds, or -1 for no expiration; got %d", *r.Expiration)
	}
	if r.Expiration != nil && *r.Expiration > MaxExpiration {
		return Errorf(EINVALIDCREDPARAM, "expiration must be at most %s, or -1 for no expiration; got %d", maxExpirationText, *r.Expiration)
	}
	acl := r.TopicACL[:0:0]
	for _, f := range r.TopicACL {
		if f != "" {
			acl = append(acl, f)
		}
	}
	if len(acl) == 0 {
		acl = []string{"#"}
	}
	r.TopicACL = acl
	for _, set := range []struct {
		name    string
		filters []string
	}{{"topicAcl", r.TopicACL}, {"publishAcl", r.PublishACL}, {"subscribeAcl", r.SubscribeACL}} {
		if err := ValidateACL(set.name, set.filters); err != nil {
			return err
		}
	}
	return nil
}

func validateClientID(id string) error {
	if id == "" || len(id) > MaxClientID {
		return Errorf(EINVALIDCREDPARAM, "clientid must be 1 to %d bytes long, got %d", MaxClientID, len(id))
	}
	if !utf8.ValidString(id) {
		return Errorf(EINVALIDCREDPARAM, "clientid is not valid UTF-8")
	}
	for _, c := range id {
		if c < 0x20 || c == 0x7f {
			return Errorf(EINVALIDCREDPARAM, "clientid %q has a control character", truncate(id))
		}
	}
	return nil
}

// ListCredentials returns one page of a broker's credentials, newest first.
func (s *Service) ListCredentials(ctx context.Context, accountID, namespace, name string, p Page) ([]*Credential, int, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, 0, err
	}
	return s.store.ListCredentials(ctx, b.ID, p)
}

// FindCredential returns one credential's metadata. Returns ENOTFOUND or ENOTFOUNDJTI.
func (s *Service) FindCredential(ctx context.Context, accountID, namespace, name, jti string) (*Credential, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.store.FindCredential(ctx, b.ID, jti)
}

// Revoke revokes jtis of a broker. Returns ENOTFOUND, EINVALID (no jti),
// ENOTFOUNDJTI (not on a broker with self-signed tokens, whose tokens'
// jtis are the customer's) or EREVOCATIONLIMIT.
func (s *Service) Revoke(ctx context.Context, accountID, namespace, name string, jtis []string) error {
	b, err := s.brokerForJTIs(ctx, accountID, namespace, name, jtis)
	if err != nil {
		return err
	}
	revoke := s.store.RevokeCredentials
	if b.SelfSignedTokens {
		revoke = s.store.RevokeSelfSigned
	}
	if err := revoke(ctx, b.ID, jtis, s.now(), s.cfg.RevocationLimit); err != nil {
		return err
	}
	s.changed()
	return nil
}

// Unrevoke removes revocations. Returns ENOTFOUND, EINVALID or ENOTFOUNDJTI.
func (s *Service) Unrevoke(ctx context.Context, accountID, namespace, name string, jtis []string) error {
	b, err := s.brokerForJTIs(ctx, accountID, namespace, name, jtis)
	if err != nil {
		return err
	}
	unrevoke := s.store.UnrevokeCredentials
	if b.SelfSignedTokens {
		unrevoke = s.store.UnrevokeSelfSigned
	}
	if err := unrevoke(ctx, b.ID, jtis); err != nil {
		return err
	}
	s.changed()
	return nil
}

// maxJTILen bounds a jti to revoke: ours are 26-character ULIDs, and a
// self-signed token's is the customer's choice.
const maxJTILen = 256

// MaxJTIsPerCall bounds one revoke or unrevoke request.
const MaxJTIsPerCall = 1000

func (s *Service) brokerForJTIs(ctx context.Context, accountID, namespace, name string, jtis []string) (*Broker, error) {
	if len(jtis) == 0 {
		return nil, Errorf(EINVALID, "give at least one jti: ?jti=<id>[,<id>...] or repeat ?jti=")
	}
	if len(jtis) > MaxJTIsPerCall {
		return nil, Errorf(EINVALID, "at most %d jtis per call, got %d", MaxJTIsPerCall, len(jtis))
	}
	for _, j := range jtis {
		if len(j) > maxJTILen {
			return nil, Errorf(EINVALID, "a jti is at most %d bytes, got one of %d", maxJTILen, len(j))
		}
	}
	return s.FindBroker(ctx, accountID, namespace, name)
}

// ListRevocations returns one page of a broker's revocations of tokens
// that have not expired yet, oldest first.
func (s *Service) ListRevocations(ctx context.Context, accountID, namespace, name string, p Page) ([]*Revocation, int, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, 0, err
	}
	return s.store.ListRevocations(ctx, b.ID, s.now(), p)
}
