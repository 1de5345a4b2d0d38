package controlplane

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuthTypeToken is the only broker authentication type: per-client JWTs.
const AuthTypeToken = "TOKEN"

// Broker is an MQTT broker, reachable at <name>.<namespace>.<domain>.
type Broker struct {
	ID            string
	NamespaceID   string
	NamespaceName string
	Name          string
	AuthType      string
	Description   string
	// Expiration is the longest lifetime, in seconds, of any credential of
	// this broker; nil means credentials may live forever. It also applies
	// to credentials minted before it was set: the broker nodes refuse a
	// token older than the broker's current expiration.
	Expiration *int64
	// OnPublishURL is the webhook called for each publish; "" when unset.
	OnPublishURL string
	// OnPublish are the hook's optional settings.
	OnPublish OnPublish
	// SelfSignedTokens lets the broker accept self-signed (fastly-style
	// HS256) tokens signed with its HMACKeys; FastlyWildcards reads their
	// x-fastly-read and x-fastly-write as topic filters.
	SelfSignedTokens bool
	FastlyWildcards  bool
	CreatedOn        time.Time
	ModifiedOn       time.Time
}

// Hostname is the broker's DNS name under domain.
func (b *Broker) Hostname(domain string) string {
	return b.Name + "." + b.NamespaceName + "." + domain
}

// BrokerStore persists brokers. Every mutation also appends to the change
// feed in the same transaction.
type BrokerStore interface {
	// CreateBroker inserts b (b.NamespaceID must be set) together with its
	// first signing keys. Returns ECONFLICT (ErrBrokerTaken).
	CreateBroker(ctx context.Context, b *Broker, keys []*SigningKey) error
	// FindBroker returns a broker by account, namespace and broker name.
	// Returns ENOTFOUND (ErrNamespaceNotFound or ErrBrokerNotFound).
	FindBroker(ctx context.Context, accountID, namespace, name string) (*Broker, error)
	// FindBrokerByID returns a broker by id, or ENOTFOUND.
	FindBrokerByID(ctx context.Context, id string) (*Broker, error)
	// ListBrokers returns one page of a namespace's brokers ordered by
	// creation, and the total. Returns ENOTFOUND for an unknown namespace.
	ListBrokers(ctx context.Context, accountID, namespace string, p Page) ([]*Broker, int, error)
	// UpdateBroker writes b's Description, Expiration, OnPublishURL, OnPublish,
	// SelfSignedTokens, FastlyWildcards and ModifiedOn. Returns ENOTFOUND.
	UpdateBroker(ctx context.Context, b *Broker) error
	// DeleteBroker deletes the broker with this id and everything it owns
	// (keys, credentials, revocations). Returns ENOTFOUND.
	DeleteBroker(ctx context.Context, id string) error
}

// BrokerInput is the body of a broker creation.
type BrokerInput struct {
	Name         string
	AuthType     string
	Description  string
	Expiration   *int64 // seconds; nil or 0 for none
	OnPublishURL string
	OnPublish    OnPublish
	// SelfSignedTokens and FastlyWildcards: see Broker.
	SelfSignedTokens bool
	FastlyWildcards  bool
}

// BrokerUpdate is a partial update: only the Set fields change.
type BrokerUpdate struct {
	SetDescription bool
	Description    string
	SetExpiration  bool
	Expiration     *int64 // nil clears
	SetOnPublish   bool
	OnPublishURL   string // "" clears
	OnPublish      OnPublish
	// SelfSignedTokens and FastlyWildcards, when non-nil, set Broker's.
	SelfSignedTokens *bool
	FastlyWildcards  *bool
}

// nanosecondThreshold: an expiration above it is taken as nanoseconds. Early
// clients of Cloudflare's beta sent a Go time.Duration; 10^12 seconds is
// over 31,000 years, so no real value in seconds is that large.
const nanosecondThreshold = 1_000_000_000_000

// NormalizeExpiration validates a broker expiration in seconds (values
// over 10^12 in nanoseconds), at most MaxExpiration. nil and 0 mean "no
// expiration" and return nil. Returns EINVALID.
func NormalizeExpiration(v *int64) (*int64, error) {
	if v == nil || *v == 0 {
		return nil, nil
	}
	secs := *v
	if secs < 0 {
		return nil, Errorf(EINVALID, "expiration must be a positive number of seconds (or null for none), got %d", secs)
	}
	if secs > nanosecondThreshold {
		secs /= int64(time.Second)
		if secs == 0 {
			secs = 1
		}
		if secs > MaxExpiration {
			return nil, Errorf(EINVALID, "expiration %d is read as nanoseconds (values over 10^12 are), which is %d seconds; the limit is %s, or null for none", *v, secs, maxExpirationText)
		}
	}
	if secs > MaxExpiration {
		return nil, Errorf(EINVALID, "expiration must be at most %s, or null for none; got %d", maxExpirationText, secs)
	}
	return &secs, nil
}

// Endpoint returns the broker's MQTT endpoint URL.
func (s *Service) Endpoint(b *Broker) string {
	return fmt.Sprintf("mqtts://%s:%d", b.Hostname(s.cfg.Domain), s.cfg.MQTTPort)
}

// CreateBroker creates a broker with its own fresh signing keys (current and
// next). Returns ENOTFOUND, EINVALIDNAME, EAUTHTYPE, EINVALID or ECONFLICT.
func (s *Service) CreateBroker(ctx context.Context, accountID, namespace string, in BrokerInput) (*Broker, error) {
	name, err := NormalizeName("broker", in.Name)
	if err != nil {
		return nil, err
	}
	authType := in.AuthType
	if authType == "" {
		authType = AuthTypeToken
	}
	if authType != AuthTypeToken {
		return nil, Errorf(EAUTHTYPE, "authType %q is not supported; the supported value is %q", truncate(authType), AuthTypeToken)
	}
	if err := ValidateDescription(in.Description); err != nil {
		return nil, err
	}
	exp, err := NormalizeExpiration(in.Expiration)
	if err != nil {
		return nil, err
	}
	if in.OnPublishURL != "" {
		if err := ValidateWebhookURL(in.OnPublishURL); err != nil {
			return nil, err
		}
	}
	if err := in.OnPublish.Validate(); err != nil {
		return nil, err
	}
	ns, err := s.store.FindNamespace(ctx, accountID, strings.ToLower(namespace))
	if err != nil {
		return nil, err
	}
	now := s.now()
	b := &Broker{
		ID: NewID(), NamespaceID: ns.ID, NamespaceName: ns.Name, Name: name, AuthType: authType,
		Description: in.Description, Expiration: exp, OnPublishURL: in.OnPublishURL, OnPublish: in.OnPublish, CreatedOn: now, ModifiedOn: now,
		SelfSignedTokens: in.SelfSignedTokens, FastlyWildcards: in.FastlyWildcards,
	}
	keys := []*SigningKey{s.newKey(b.ID, KeyCurrent, now), s.newKey(b.ID, KeyNext, now)}
	if err := s.store.CreateBroker(ctx, b, keys); err != nil {
		return nil, err
	}
	s.changed()
	return b, nil
}

// FindBroker returns a broker, its expiration clamped to MaxExpiration.
// Returns ENOTFOUND.
func (s *Service) FindBroker(ctx context.Context, accountID, namespace, name string) (*Broker, error) {
	b, err := s.store.FindBroker(ctx, accountID, strings.ToLower(namespace), strings.ToLower(name))
	if err != nil {
		return nil, err
	}
	b.Expiration = ClampExpiration(b.Expiration)
	return b, nil
}

// ListBrokers returns one page of a namespace's brokers and the total,
// their expirations clamped to MaxExpiration.
func (s *Service) ListBrokers(ctx context.Context, accountID, namespace string, p Page) ([]*Broker, int, error) {
	list, total, err := s.store.ListBrokers(ctx, accountID, strings.ToLower(namespace), p)
	for _, b := range list {
		b.Expiration = ClampExpiration(b.Expiration)
	}
	return list, total, err
}

// UpdateBroker applies a partial update. Returns ENOTFOUND or EINVALID.
func (s *Service) UpdateBroker(ctx context.Context, accountID, namespace, name string, u BrokerUpdate) (*Broker, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	if u.SetDescription {
		if err := ValidateDescription(u.Description); err != nil {
			return nil, err
		}
		b.Description = u.Description
	}
	if u.SetExpiration {
		if b.Expiration, err = NormalizeExpiration(u.Expiration); err != nil {
			return nil, err
		}
	}
	if u.SetOnPublish {
		if u.OnPublishURL != "" {
			if err := ValidateWebhookURL(u.OnPublishURL); err != nil {
				return nil, err
			}
		}
		if err := u.OnPublish.Validate(); err != nil {
			return nil, err
		}
		b.OnPublishURL, b.OnPublish = u.OnPublishURL, u.OnPublish
	}
	if u.SelfSignedTokens != nil {
		b.SelfSignedTokens = *u.SelfSignedTokens
	}
	if u.FastlyWildcards != nil {
		b.FastlyWildcards = *u.FastlyWildcards
	}
	b.ModifiedOn = s.now()
	if err := s.store.UpdateBroker(ctx, b); err != nil {
		return nil, err
	}
	s.changed()
	return b, nil
}

// DeleteBroker deletes a broker with its keys, credentials and revocations.
// Connected clients are disconnected by the broker nodes. Returns ENOTFOUND.
func (s *Service) DeleteBroker(ctx context.Context, accountID, namespace, name string) error {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return err
	}
	if err := s.store.DeleteBroker(ctx, b.ID); err != nil {
		return err
	}
	s.changed()
	return nil
}
