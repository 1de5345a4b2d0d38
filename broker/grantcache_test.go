package broker_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// cacheFixture is a broker with one key and a signer of its tokens.
type cacheFixture struct {
	st   *broker.State
	fb   feed.Broker
	priv ed25519.PrivateKey
	kid  string
}

func newCacheFixture(t testing.TB) *cacheFixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := token.NewJWK(pub)
	fb := feed.Broker{ID: "b1", Name: "b1", Namespace: "ns", Hostname: "b1.ns.example", Keys: []feed.Key{{ID: jwk.Kid, X: jwk.X, State: "current"}}}
	st, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: 1, Brokers: []feed.Broker{fb}})
	if err != nil {
		t.Fatal(err)
	}
	return &cacheFixture{st: st, fb: fb, priv: priv, kid: jwk.Kid}
}

func (f *cacheFixture) token(t testing.TB, jti string, iat, exp time.Time) string {
	t.Helper()
	c := &token.Claims{Subject: "c-" + jti, ID: jti, Audience: f.fb.Hostname, IssuedAt: iat.Unix(), TopicACL: []string{"#"}}
	if !exp.IsZero() {
		c.ExpiresAt = exp.Unix()
	}
	tok, err := token.Sign(f.priv, f.kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGrantCache checks that a cached grant is used only while it would
// still be granted: same broker configuration, not revoked, key still
// there, not expired, and that the cache stays within its size.
func TestGrantCache(t *testing.T) {
	f := newCacheFixture(t)
	now := time.Now()
	b := f.st.Broker("b1")
	c := broker.NewGrantCache(2)
	tok := f.token(t, "j1", now, now.Add(time.Hour))

	g1, r := c.Authenticate(b, tok, now, 0)
	if r != nil {
		t.Fatal(r)
	}
	g2, r := c.Authenticate(b, tok, now, 0)
	if r != nil || g2 != g1 {
		t.Fatalf("second authentication: %v, same grant %v; want the cached one", r, g2 == g1)
	}
	if hits, misses := c.Stats(); hits != 1 || misses != 1 {
		t.Errorf("hits, misses = %d, %d; want 1, 1", hits, misses)
	}
	t.Run("Expired", func(t *testing.T) {
		if _, r := c.Authenticate(b, tok, now.Add(2*time.Hour), 0); r == nil || r.Reason != broker.ReasonExpired {
			t.Errorf("after exp: %v, want expired", r)
		}
	})
	t.Run("Revoked", func(t *testing.T) {
		st, err := f.st.Apply(feed.Event{Type: feed.TypeRevoked, Revision: 2, BrokerID: "b1", Revocation: &feed.Revocation{JTI: "j1"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, r := c.Authenticate(st.Broker("b1"), tok, now, 0); r != broker.RefuseRevoked {
			t.Errorf("after revocation: %v, want revoked", r)
		}
	})
	t.Run("KeyRemoved", func(t *testing.T) {
		other := f.fb
		other.Keys = []feed.Key{newKey(t)}
		st, err := f.st.Apply(feed.Event{Type: feed.TypeBroker, Revision: 2, Broker: &other})
		if err != nil {
			t.Fatal(err)
		}
		if _, r := c.Authenticate(st.Broker("b1"), tok, now, 0); r == nil {
			t.Error("a token whose key is gone was granted")
		}
	})
	t.Run("ExpirationLowered", func(t *testing.T) {
		old := f.token(t, "j-old", now.Add(-time.Hour), time.Time{})
		if _, r := c.Authenticate(b, old, now, 0); r != nil {
			t.Fatal(r)
		}
		lowered := f.fb
		lowered.Expiration = 60
		st, err := f.st.Apply(feed.Event{Type: feed.TypeBroker, Revision: 2, Broker: &lowered})
		if err != nil {
			t.Fatal(err)
		}
		if _, r := c.Authenticate(st.Broker("b1"), old, now, 0); r != broker.RefuseTooOld {
			t.Errorf("after the expiration was lowered: %v, want too old", r)
		}
	})
	t.Run("Bounded", func(t *testing.T) {
		for i := range 5 {
			if _, r := c.Authenticate(b, f.token(t, fmt.Sprint("n", i), now, now.Add(time.Hour)), now, 0); r != nil {
				t.Fatal(r)
			}
		}
		if n := c.Len(); n > 2 {
			t.Errorf("Len = %d, want at most 2", n)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		if _, r := c.Authenticate(b, "", now, 0); r != broker.RefuseNoToken {
			t.Errorf("empty token: %v", r)
		}
		if _, r := c.Authenticate(b, tok[:len(tok)-2]+"xx", now, 0); r == nil {
			t.Error("a token with a broken signature was granted")
		}
	})
}

// BenchmarkGrantCache compares a reconnect's token work with and without
// the cache, for the same token.
func BenchmarkGrantCache(b *testing.B) {
	f := newCacheFixture(b)
	now := time.Now()
	br := f.st.Broker("b1")
	tok := f.token(b, "j1", now, now.Add(time.Hour))
	for _, bc := range []struct {
		name  string
		cache *broker.GrantCache
	}{{"Uncached", nil}, {"Cached", broker.NewGrantCache(1024)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, r := bc.cache.Authenticate(br, tok, now, time.Minute); r != nil {
					b.Fatal(r)
				}
			}
		})
	}
}
