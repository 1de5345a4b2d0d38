package broker_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// newKey returns a fresh Ed25519 key in its feed form.
func newKey(t *testing.T) feed.Key {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := token.NewJWK(pub)
	return feed.Key{ID: jwk.Kid, X: jwk.X, State: "current"}
}

func feedBroker(t *testing.T, id, host string) feed.Broker {
	t.Helper()
	return feed.Broker{ID: id, Name: id, Namespace: "ns", Hostname: host, Keys: []feed.Key{newKey(t)}}
}

func mustState(t *testing.T, rev int64, bs ...feed.Broker) *broker.State {
	t.Helper()
	s, err := broker.NewState(feed.Event{Type: feed.TypeSnapshot, Revision: rev, Brokers: bs})
	if err != nil {
		t.Fatalf("NewState: %v", err)
	}
	return s
}

func TestNewState(t *testing.T) {
	a := feedBroker(t, "a", "a.ns.example.com")
	a.Expiration = 3600
	a.Revocations = []feed.Revocation{{JTI: "j1", ExpiresAt: 10}}
	s := mustState(t, 7, a, feedBroker(t, "b", "B.ns.example.com"))

	if got, want := s.Revision(), int64(7); got != want {
		t.Errorf("Revision() = %d, want %d", got, want)
	}
	if got, want := s.Len(), 2; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	b := s.Broker("a")
	if b == nil {
		t.Fatal(`Broker("a") = nil`)
	}
	if got, want := b.Expiration, time.Hour; got != want {
		t.Errorf("Expiration = %v, want %v", got, want)
	}
	if _, ok := b.Keys[a.Keys[0].ID]; !ok {
		t.Errorf("Keys lacks kid %q", a.Keys[0].ID)
	}
	if !b.Revoked("j1") || b.Revoked("j2") {
		t.Errorf("Revoked(j1), Revoked(j2) = %v, %v; want true, false", b.Revoked("j1"), b.Revoked("j2"))
	}
	if got := s.BrokerByHostname("b.NS.example.com"); got == nil || got.ID != "b" {
		t.Errorf("BrokerByHostname ignoring case = %v, want broker b", got)
	}
	if got := s.BrokerByHostname("c.ns.example.com"); got != nil {
		t.Errorf("BrokerByHostname(unknown) = %v, want nil", got)
	}
	var ids []string
	for b := range s.Brokers() {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	if got, want := ids, []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("Brokers() = %v, want %v", got, want)
	}
}

func TestNewStateInvalid(t *testing.T) {
	good := feedBroker(t, "a", "a.example.com")
	badKey := good
	badKey.Keys = []feed.Key{{ID: "kid", X: good.Keys[0].X}} // kid is not the thumbprint
	dupKey := good
	dupKey.Keys = []feed.Key{good.Keys[0], good.Keys[0]}
	noJTI := good
	noJTI.Revocations = []feed.Revocation{{}}
	negative := good
	negative.Expiration = -1
	noID := good
	noID.ID = ""
	badHost := good
	badHost.Hostname = "a b"

	for _, tc := range []struct {
		name string
		ev   feed.Event
	}{
		{"NotSnapshot", feed.Event{Type: feed.TypeBroker, Broker: &good}},
		{"KidNotThumbprint", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{badKey}}},
		{"DuplicateKey", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{dupKey}}},
		{"RevocationWithoutJTI", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{noJTI}}},
		{"NegativeExpiration", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{negative}}},
		{"NoID", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{noID}}},
		{"BadHostname", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{badHost}}},
		{"SharedHostname", feed.Event{Type: feed.TypeSnapshot, Brokers: []feed.Broker{good, feedBroker(t, "b", "A.example.com")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.NewState(tc.ev)
			if got, want := broker.ErrorCode(err), broker.EINVALID; got != want {
				t.Errorf("NewState error code = %q (%v), want %q", got, err, want)
			}
		})
	}
}

func TestApply(t *testing.T) {
	a, b := feedBroker(t, "a", "a.example.com"), feedBroker(t, "b", "b.example.com")
	base := mustState(t, 10, a, b)

	renamed := feedBroker(t, "a", "a2.example.com")
	for _, tc := range []struct {
		name  string
		evs   []feed.Event
		check func(t *testing.T, s *broker.State)
	}{
		{"Revoked", []feed.Event{
			{Type: feed.TypeRevoked, Revision: 11, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j1"}},
		}, func(t *testing.T, s *broker.State) {
			if !s.Broker("a").Revoked("j1") {
				t.Error("j1 is not revoked")
			}
		}},
		{"RevokedThenUnrevokedInOneBatch", []feed.Event{
			{Type: feed.TypeRevoked, Revision: 11, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j1"}},
			{Type: feed.TypeRevoked, Revision: 12, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j2"}},
			{Type: feed.TypeUnrevoked, Revision: 13, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j1"}},
		}, func(t *testing.T, s *broker.State) {
			if br := s.Broker("a"); br.Revoked("j1") || !br.Revoked("j2") || br.Revocations() != 1 {
				t.Errorf("revoked j1, j2 = %v, %v (%d in all); want false, true (1)", br.Revoked("j1"), br.Revoked("j2"), br.Revocations())
			}
		}},
		{"BrokerDeleted", []feed.Event{
			{Type: feed.TypeBrokerDeleted, Revision: 11, BrokerID: "a"},
		}, func(t *testing.T, s *broker.State) {
			if s.Broker("a") != nil || s.BrokerByHostname("a.example.com") != nil || s.Len() != 1 {
				t.Error("broker a is still there")
			}
		}},
		{"BrokerReplacedWithNewHostname", []feed.Event{
			{Type: feed.TypeBroker, Revision: 11, Broker: &renamed},
		}, func(t *testing.T, s *broker.State) {
			if s.BrokerByHostname("a.example.com") != nil {
				t.Error("old hostname still routes")
			}
			if got := s.BrokerByHostname("a2.example.com"); got == nil || got.ID != "a" {
				t.Errorf("new hostname routes to %v, want broker a", got)
			}
		}},
		{"UnknownBrokerIgnored", []feed.Event{
			{Type: feed.TypeRevoked, Revision: 11, BrokerID: "gone", Revocation: &feed.Revocation{JTI: "j"}},
			{Type: feed.TypeBrokerDeleted, Revision: 12, BrokerID: "gone"},
		}, func(t *testing.T, s *broker.State) {
			if got, want := s.Len(), 2; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
		}},
		{"PingAdvancesRevision", []feed.Event{
			{Type: feed.TypePing, Revision: 15},
		}, func(t *testing.T, s *broker.State) {
			if s.Broker("a") != base.Broker("a") {
				t.Error("a ping copied a broker")
			}
		}},
		{"SnapshotReplacesAll", []feed.Event{
			{Type: feed.TypeRevoked, Revision: 11, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j1"}},
			{Type: feed.TypeSnapshot, Revision: 5, Brokers: []feed.Broker{b}},
		}, func(t *testing.T, s *broker.State) {
			if s.Broker("a") != nil || s.Broker("b") == nil || s.Revision() != 5 {
				t.Errorf("after snapshot: a=%v b=%v revision=%d", s.Broker("a"), s.Broker("b"), s.Revision())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := base.Apply(tc.evs...)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			tc.check(t, s)
			if got, want := s.Revision(), tc.evs[len(tc.evs)-1].Revision; got != want {
				t.Errorf("Revision() = %d, want %d", got, want)
			}
			// The base State must not have changed.
			if base.Len() != 2 || base.Broker("a").Revoked("j1") || base.Revision() != 10 || base.BrokerByHostname("a.example.com") == nil {
				t.Error("Apply modified its receiver")
			}
		})
	}
}

func TestApplySharesUntouchedBrokers(t *testing.T) {
	base := mustState(t, 1, feedBroker(t, "a", "a.example.com"), feedBroker(t, "b", "b.example.com"))
	s, err := base.Apply(feed.Event{Type: feed.TypeRevoked, Revision: 2, BrokerID: "a", Revocation: &feed.Revocation{JTI: "j"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Broker("b") != base.Broker("b") {
		t.Error("untouched broker b was copied")
	}
	if s.Broker("a") == base.Broker("a") {
		t.Error("touched broker a was not copied")
	}
	if s.BrokerByHostname("a.example.com") != s.Broker("a") {
		t.Error("the hostname index points at the old copy of a")
	}
}

func TestApplyErrors(t *testing.T) {
	base := mustState(t, 10, feedBroker(t, "a", "a.example.com"), feedBroker(t, "b", "b.example.com"))
	taken := feedBroker(t, "c", "b.example.com")
	for _, tc := range []struct {
		name string
		ev   feed.Event
		code string
	}{
		{"ErrStale", feed.Event{Type: feed.TypeBrokerDeleted, Revision: 9, BrokerID: "a"}, broker.ESTALE},
		{"ErrUnknownType", feed.Event{Type: "surprise", Revision: 11}, broker.EINVALID},
		{"ErrBrokerEventWithoutBroker", feed.Event{Type: feed.TypeBroker, Revision: 11}, broker.EINVALID},
		{"ErrRevokedWithoutJTI", feed.Event{Type: feed.TypeRevoked, Revision: 11, BrokerID: "a"}, broker.EINVALID},
		{"ErrHostnameTaken", feed.Event{Type: feed.TypeBroker, Revision: 11, Broker: &taken}, broker.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := base.Apply(tc.ev)
			if got := broker.ErrorCode(err); got != tc.code {
				t.Errorf("Apply error code = %q (%v), want %q", got, err, tc.code)
			}
			if s != nil {
				t.Errorf("Apply returned a State with an error")
			}
		})
	}
}

func TestNilState(t *testing.T) {
	var s *broker.State
	if s.Len() != 0 || s.Revision() != 0 || s.Broker("a") != nil || s.BrokerByHostname("a") != nil {
		t.Error("a nil State is not empty")
	}
	for range s.Brokers() {
		t.Error("a nil State yields brokers")
	}
}

func TestTooOld(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name       string
		expiration time.Duration
		iat        int64
		want       bool
	}{
		{"NoExpiration", 0, 0, false},
		{"Young", time.Hour, now.Unix() - 60, false},
		{"ExactlyAtLimit", time.Hour, now.Unix() - 3600, false},
		{"Old", time.Hour, now.Unix() - 3601, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &broker.Broker{Expiration: tc.expiration}
			if got := b.TooOld(tc.iat, now); got != tc.want {
				t.Errorf("TooOld(%d) = %v, want %v", tc.iat, got, tc.want)
			}
		})
	}
}

// TestHugeExpirationIsACap reads a feed expiration too large for
// time.Duration as the longest cap, never as none: seconds multiplied
// into nanoseconds would wrap.
func TestHugeExpirationIsACap(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	for _, secs := range []int64{315_360_001, 9_300_000_000, 9_223_372_037, math.MaxInt64} {
		t.Run(fmt.Sprint(secs), func(t *testing.T) {
			fb := feedBroker(t, "a", "a.ns.example.com")
			fb.Expiration = secs
			b := mustState(t, 1, fb).Broker("a")
			if got, want := b.Expiration, token.MaxLifetime; got != want {
				t.Errorf("Expiration = %v, want %v", got, want)
			}
			if b.TooOld(now.Unix()-3600, now) {
				t.Error("a token issued an hour ago is too old")
			}
			if !b.TooOld(now.Add(-token.MaxLifetime).Unix()-1, now) {
				t.Error("a token older than the longest cap is not too old")
			}
		})
	}
}
