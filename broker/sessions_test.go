package broker_test

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// TestSessionsSharedJTI checks the index by jti when several sessions
// share a token: a revocation ends every one still registered, whichever
// registered first and left, by either of Enforce's two ways (the indexed
// jtis against the revocations, or the other way round).
func TestSessionsSharedJTI(t *testing.T) {
	now := time.Now()
	fb := selfSignedBroker(t, "b1", "b1.ns.example", false)
	st := mustState(t, 1, fb)
	for _, tc := range []struct {
		name    string
		revoked []string
	}{
		{"RevocationsScanned", []string{"j"}},
		{"SessionsScanned", []string{"j", "x", "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x broker.Sessions
			register := func(claims string) *testSession {
				t.Helper()
				g, r := broker.Authenticate(st.Broker("b1"), hs256(hsSecret, hsHeader(hsKID), claims), now, 0)
				if r != nil {
					t.Fatal(r)
				}
				s := &testSession{g: g}
				if r := x.Register(s, func() *broker.Broker { return st.Broker("b1") }, now, 0); r != nil {
					t.Fatal(r)
				}
				return s
			}
			first, second, third := register(`{"jti":"j"}`), register(`{"jti":"j"}`), register(`{"jti":"j"}`)
			other := register(`{"jti":"k"}`)
			x.Unregister(first) // the jti's first session leaves; the others stay indexed
			x.Unregister(first)
			if got, want := x.Len(), 3; got != want {
				t.Fatalf("Len = %d, want %d", got, want)
			}
			next := fb
			for _, jti := range tc.revoked {
				next.Revocations = append(next.Revocations, feed.Revocation{JTI: jti})
			}
			nst, err := st.Apply(feed.Event{Type: feed.TypeBroker, Revision: 2, Broker: &next})
			if err != nil {
				t.Fatal(err)
			}
			x.Enforce(st.Broker("b1"), nst.Broker("b1"), now, 0)
			for i, c := range []struct {
				s    *testSession
				want *broker.Refusal
			}{{first, nil}, {second, broker.RefuseRevoked}, {third, broker.RefuseRevoked}, {other, nil}} {
				if c.s.ended != c.want {
					t.Errorf("session %d ended with %v, want %v", i, c.s.ended, c.want)
				}
			}
		})
	}
}
