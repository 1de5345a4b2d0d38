package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// HMACKey is a shared signing key of self-signed tokens (fastly/pubsub's
// format, HS256): the customer mints tokens with its secret and names it
// in the kid header. The secret is stored only sealed with the KEK, bound
// to its broker and id, like the private halves of SigningKey.
type HMACKey struct {
	ID           string // 8 hex characters, as fastly's /admin/keys makes them
	BrokerID     string
	SealedSecret []byte
	CreatedOn    time.Time
}

// HMACKeyStore persists the keys of self-signed tokens. Every mutation
// also appends a ChangeKeys to the change feed in the same transaction.
type HMACKeyStore interface {
	// ListHMACKeys returns the broker's keys, oldest first.
	ListHMACKeys(ctx context.Context, brokerID string) ([]*HMACKey, error)
	// CreateHMACKey inserts k. Returns ECONFLICT when the broker has a key
	// with k's id, ENOTFOUND when the broker does not exist.
	CreateHMACKey(ctx context.Context, k *HMACKey) error
	// DeleteHMACKey deletes a key. Returns ENOTFOUND for an unknown id.
	DeleteHMACKey(ctx context.Context, brokerID, id string) error
}

// MaxHMACKeys bounds a broker's self-signed keys: each is one map entry
// on every node and one secret in every feed snapshot.
const MaxHMACKeys = 100

// newHMACSecret makes a key as fastly's /admin/keys does: the value is the
// lowercase hex of SHA-1 of 32 random bytes (40 characters, used as ASCII
// bytes), and the id the hex of the first 4 bytes of SHA-1 of the value.
func newHMACSecret() (id, value string) {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		panic(err)
	}
	v := sha1.Sum(seed[:])
	value = hex.EncodeToString(v[:])
	h := sha1.Sum([]byte(value))
	return hex.EncodeToString(h[:4]), value
}

// CreateHMACKey creates a key of self-signed tokens for a broker and
// returns it with its secret, which is shown this once. Returns
// ENOTFOUND, or EINVALID when the broker already has MaxHMACKeys keys.
// Creating one does not enable self-signed tokens: the broker's
// self_signed_tokens does.
func (s *Service) CreateHMACKey(ctx context.Context, accountID, namespace, name string) (*HMACKey, string, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, "", err
	}
	return s.CreateHMACKeyForBroker(ctx, b)
}

// CreateHMACKeyForBroker is CreateHMACKey for a broker already found.
func (s *Service) CreateHMACKeyForBroker(ctx context.Context, b *Broker) (*HMACKey, string, error) {
	keys, err := s.store.ListHMACKeys(ctx, b.ID)
	if err != nil {
		return nil, "", err
	}
	if len(keys) >= MaxHMACKeys {
		return nil, "", Errorf(EINVALID, "broker %q has %d signing keys, the most it can have; delete one first", b.Name, len(keys))
	}
	// An id is 32 bits: on the rare collision with a key of the same
	// broker, draw again rather than overwrite as fastly does.
	for range 4 {
		id, value := newHMACSecret()
		k := &HMACKey{ID: id, BrokerID: b.ID, SealedSecret: s.sealer.Seal([]byte(value), b.ID, "hmac/"+id), CreatedOn: s.now()}
		err = s.store.CreateHMACKey(ctx, k)
		if ErrorCode(err) == ECONFLICT {
			continue
		} else if err != nil {
			return nil, "", err
		}
		s.changed()
		return k, value, nil
	}
	return nil, "", err
}

// ListHMACKeys returns a broker's keys of self-signed tokens, without
// their secrets. Returns ENOTFOUND.
func (s *Service) ListHMACKeys(ctx context.Context, accountID, namespace, name string) ([]*HMACKey, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	keys, err := s.store.ListHMACKeys(ctx, b.ID)
	for _, k := range keys {
		k.SealedSecret = nil
	}
	return keys, err
}

// DeleteHMACKey deletes a key of self-signed tokens; the nodes end every
// session whose token it signed. Returns ENOTFOUND.
func (s *Service) DeleteHMACKey(ctx context.Context, accountID, namespace, name, id string) error {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return err
	}
	if err := s.store.DeleteHMACKey(ctx, b.ID, id); err != nil {
		return err
	}
	s.changed()
	return nil
}

// openHMACKeys unseals a broker's keys for the feed. A key that does not
// open (a wrong KEK) is left out and logged: the feed goes on, and the
// tokens it signed are refused.
func (s *Service) openHMACKeys(st *BrokerState) [][]byte {
	out := make([][]byte, len(st.HMACKeys))
	for i, k := range st.HMACKeys {
		secret, err := s.sealer.Open(k.SealedSecret, k.BrokerID, "hmac/"+k.ID)
		if err != nil {
			s.log.Error("cannot unseal a signing key of self-signed tokens", "broker", k.BrokerID, "key", k.ID, "err", err)
			continue
		}
		out[i] = secret
	}
	return out
}

// AccountCredentials are what a client of the API authenticates with:
// an API token, or an email with an API key.
type AccountCredentials struct {
	APIToken      string
	Email, APIKey string
}

// CreateHMACKeyFor creates a key of self-signed tokens for the broker with
// id brokerID on behalf of a client who sent creds to a broker node's
// `POST /admin/keys`, which the node forwards here: the node holds no
// account credentials of its own. Returns EUNAUTHENTICATED when creds are
// missing or refused, EFORBIDDEN when the broker is not the account's,
// ENOTFOUND when it no longer exists, and CreateHMACKey's errors.
func (s *Service) CreateHMACKeyFor(ctx context.Context, brokerID string, creds AccountCredentials) (*HMACKey, string, error) {
	var (
		a   *Account
		err error
	)
	switch {
	case creds.APIToken != "":
		a, err = s.AuthenticateToken(ctx, creds.APIToken)
	case creds.Email != "" && creds.APIKey != "":
		a, err = s.AuthenticateKey(ctx, creds.Email, creds.APIKey)
	default:
		return nil, "", Errorf(EUNAUTHENTICATED, "account credentials are required: Authorization: Bearer <API token>, Fastly-Key: <API token>, or X-Auth-Email with X-Auth-Key")
	}
	if ErrorCode(err) == EBADCREDENTIALS {
		return nil, "", Errorf(EUNAUTHENTICATED, "the account credentials are not valid")
	} else if err != nil {
		return nil, "", err
	}
	b, err := s.store.FindBrokerByID(ctx, brokerID)
	if err != nil {
		return nil, "", err
	}
	own, err := s.FindBroker(ctx, a.ID, b.NamespaceName, b.Name)
	if ErrorCode(err) == ENOTFOUND || err == nil && own.ID != b.ID {
		return nil, "", Errorf(EFORBIDDEN, "these credentials do not grant access to broker %q", b.Name)
	} else if err != nil {
		return nil, "", err
	}
	return s.CreateHMACKeyForBroker(ctx, own)
}
