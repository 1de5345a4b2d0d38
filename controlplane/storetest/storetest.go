// Package storetest is the contract suite of controlplane.Store: every
// store runs it (postgres, sqlite) so that they behave the same, down to
// error codes, error messages, orderings and timestamp precision.
//
// A store's tests call Run with a function that opens a fresh, empty
// store; benchmarks call the Bench functions the same way.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

// Run runs the contract suite. open must return a new, empty store, and
// close it when t ends. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) controlplane.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Account", accountTests},
		{"Namespace", namespaceTests},
		{"Broker", brokerTests},
		{"Key", keyTests},
		{"HMACKey", hmacKeyTests},
		{"TicketKey", ticketKeyTests},
		{"SelfSignedRevocation", selfSignedRevocationTests},
		{"Credential", credentialTests},
		{"Revocation", revocationTests},
		{"Change", changeTests},
		{"Concurrency", concurrencyTests},
		{"Node", nodeTests},
		{"ClientReport", clientReportTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.fn(t, newFixture(t, open(t)))
				})
			}
		})
	}
	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		if err := open(t).Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// test is one named case of the suite.
type test struct {
	name string
	fn   func(t *testing.T, f *fixture)
}

// t0 is the base time of fixtures: not UTC and with nanoseconds, so that
// every test also checks that stores return UTC microseconds.
var t0 = time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("CET", 3600))

// norm is what a store returns for a time it was given.
func norm(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

// fixture builds the objects a test needs in one store. Ids are
// predictable (ns_0001, br_0002, ...) and creation times increase by a second
// at each object, starting at t0.
type fixture struct {
	t   testing.TB
	s   controlplane.Store
	ctx context.Context
	n   int
}

func newFixture(t *testing.T, s controlplane.Store) *fixture {
	return &fixture{t: t, s: s, ctx: context.Background()}
}

// next returns a new sequence number.
func (f *fixture) next() int { f.n++; return f.n }

// tick returns the creation time of the next object.
func (f *fixture) tick() time.Time { return t0.Add(time.Duration(f.next()) * time.Second) }

func (f *fixture) id(prefix string) string { return fmt.Sprintf("%s_%04d", prefix, f.next()) }

func (f *fixture) account(email string) *controlplane.Account {
	f.t.Helper()
	a := &controlplane.Account{
		ID: f.id("acct"), Email: email, CreatedOn: f.tick(),
		KeyHash: []byte("key-" + email), TokenHash: []byte("token-" + email),
	}
	if err := f.s.CreateAccount(f.ctx, a); err != nil {
		f.t.Fatalf("CreateAccount(%s): %v", email, err)
	}
	return a
}

func (f *fixture) namespace(a *controlplane.Account, name string) *controlplane.Namespace {
	f.t.Helper()
	at := f.tick()
	ns := &controlplane.Namespace{ID: f.id("ns"), AccountID: a.ID, Name: name, Description: "ns " + name, CreatedOn: at, ModifiedOn: at}
	if err := f.s.CreateNamespace(f.ctx, ns); err != nil {
		f.t.Fatalf("CreateNamespace(%s): %v", name, err)
	}
	return ns
}

// newKey returns a key to insert, not yet stored.
func (f *fixture) newKey(state string) *controlplane.SigningKey {
	at := f.tick()
	id := f.id("kid")
	return &controlplane.SigningKey{
		ID: id, State: state, CreatedOn: at, ModifiedOn: at,
		PublicKey: []byte("pub-" + id), SealedKey: []byte("sealed-" + id),
	}
}

// newBroker returns a broker of ns to insert, not yet stored.
func (f *fixture) newBroker(ns *controlplane.Namespace, name string) *controlplane.Broker {
	at := f.tick()
	exp := int64(3600)
	return &controlplane.Broker{
		ID: f.id("br"), NamespaceID: ns.ID, Name: name, AuthType: controlplane.AuthTypeToken,
		Description: "broker " + name, Expiration: &exp, OnPublishURL: "https://example.com/" + name,
		CreatedOn: at, ModifiedOn: at,
	}
}

// broker creates a broker with a current and a next key.
func (f *fixture) broker(ns *controlplane.Namespace, name string) *controlplane.Broker {
	f.t.Helper()
	b := f.newBroker(ns, name)
	keys := []*controlplane.SigningKey{f.newKey(controlplane.KeyCurrent), f.newKey(controlplane.KeyNext)}
	if err := f.s.CreateBroker(f.ctx, b, keys); err != nil {
		f.t.Fatalf("CreateBroker(%s): %v", name, err)
	}
	return b
}

// newCredentials returns n credentials of b to insert, not yet stored.
func (f *fixture) newCredentials(b *controlplane.Broker, n int, expiresAt *time.Time) []*controlplane.Credential {
	creds := make([]*controlplane.Credential, n)
	for i := range creds {
		creds[i] = &controlplane.Credential{
			JTI: f.id("jti"), BrokerID: b.ID, ClientID: fmt.Sprintf("client-%d", i), KeyID: "kid",
			IssuedAt: f.tick(), ExpiresAt: expiresAt,
			TopicACL: []string{"a/#"}, PublishACL: []string{"a/b"}, SubscribeACL: nil,
		}
	}
	return creds
}

// credentials creates n credentials of b and returns their jtis.
func (f *fixture) credentials(b *controlplane.Broker, n int, expiresAt *time.Time) []string {
	f.t.Helper()
	creds := f.newCredentials(b, n, expiresAt)
	if err := f.s.CreateCredentials(f.ctx, creds); err != nil {
		f.t.Fatalf("CreateCredentials: %v", err)
	}
	jtis := make([]string, n)
	for i, c := range creds {
		jtis[i] = c.JTI
	}
	return jtis
}

// world is the usual starting point: account A with namespace "alpha"
// holding broker "one", and account B with namespace "beta".
type world struct {
	a, b   *controlplane.Account
	nsA    *controlplane.Namespace
	nsB    *controlplane.Namespace
	broker *controlplane.Broker
}

func (f *fixture) world() *world {
	f.t.Helper()
	w := &world{a: f.account("a@example.com"), b: f.account("b@example.com")}
	w.nsA = f.namespace(w.a, "alpha")
	w.nsB = f.namespace(w.b, "beta")
	w.broker = f.broker(w.nsA, "one")
	return w
}

// changes returns the whole feed as "kind namespace broker jti" lines.
func (f *fixture) changes(after int64) []string {
	f.t.Helper()
	list, err := f.s.ListChanges(f.ctx, after, 0)
	if err != nil {
		f.t.Fatalf("ListChanges: %v", err)
	}
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = changeLine(c.Kind, c.NamespaceID, c.BrokerID, c.JTI)
	}
	return out
}

func changeLine(kind, namespaceID, brokerID, jti string) string {
	return fmt.Sprintf("%s ns=%s broker=%s jti=%s", kind, namespaceID, brokerID, jti)
}

// revision returns the revision of the newest change (0 for none).
func (f *fixture) revision() int64 {
	f.t.Helper()
	list, err := f.s.ListChanges(f.ctx, 0, 0)
	if err != nil {
		f.t.Fatalf("ListChanges: %v", err)
	}
	if len(list) == 0 {
		return 0
	}
	return list[len(list)-1].Revision
}

// wantErr fails unless err is a *controlplane.Error with this code and,
// when message is not "", this message.
func wantErr(t *testing.T, err error, code, message string) {
	t.Helper()
	if got := controlplane.ErrorCode(err); got != code {
		t.Fatalf("error = %v, want code %q", err, code)
	}
	if message != "" {
		if got := controlplane.ErrorMessage(err); got != message {
			t.Fatalf("error message = %q, want %q", got, message)
		}
	}
}

// wantError fails unless err equals want in code and message.
func wantError(t *testing.T, err error, want *controlplane.Error) {
	t.Helper()
	wantErr(t, err, want.Code, want.Message)
}

// ok fails the test on a non-nil error.
func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// equal fails unless got and want are deeply equal, showing both as JSON.
// Times compare equal only with the same location, so this also checks
// that stores return UTC.
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s =\n%s\nwant\n%s", what, dump(got), dump(want))
	}
}

func dump(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }
