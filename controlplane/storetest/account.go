package storetest

import (
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
)

var accountTests = []test{
	{"CreateAccount/OK", func(t *testing.T, f *fixture) {
		a := &controlplane.Account{ID: "acct_1", Email: "a@example.com", CreatedOn: t0, KeyHash: []byte{1, 2}, TokenHash: []byte{3, 4}}
		ok(t, f.s.CreateAccount(f.ctx, a))
		want := &controlplane.Account{ID: "acct_1", Email: "a@example.com", CreatedOn: norm(t0), KeyHash: []byte{1, 2}, TokenHash: []byte{3, 4}}
		equal(t, "the account after create", a, want)
		got, err := f.s.FindAccount(f.ctx, "acct_1")
		ok(t, err)
		equal(t, "FindAccount", got, want)
		if got, want := got.CreatedOn.Location(), time.UTC; got != want {
			t.Fatalf("CreatedOn.Location() = %v, want %v", got, want)
		}
		if got, want := got.CreatedOn.Nanosecond()%1000, 0; got != want {
			t.Fatalf("CreatedOn has %d ns below the microsecond, want %d", got, want)
		}
	}},
	{"CreateAccount/ErrEmailTaken", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		err := f.s.CreateAccount(f.ctx, &controlplane.Account{ID: "acct_x", Email: "a@example.com", CreatedOn: t0})
		wantErr(t, err, controlplane.ECONFLICT, `an account with email "a@example.com" already exists`)
	}},
	{"FindAccount/ErrNotFound", func(t *testing.T, f *fixture) {
		_, err := f.s.FindAccount(f.ctx, "nope")
		wantErr(t, err, controlplane.ENOTFOUND, `account "nope" not found`)
	}},
	{"FindAccountByEmail/OK", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		b := f.account("b@example.com")
		got, err := f.s.FindAccountByEmail(f.ctx, "b@example.com")
		ok(t, err)
		equal(t, "FindAccountByEmail", got, b)
	}},
	{"FindAccountByEmail/ErrNotFound", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		_, err := f.s.FindAccountByEmail(f.ctx, "z@example.com")
		wantErr(t, err, controlplane.ENOTFOUND, `no account has email "z@example.com"`)
	}},
	{"FindAccountByTokenHash/OK", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		b := f.account("b@example.com")
		got, err := f.s.FindAccountByTokenHash(f.ctx, []byte("token-b@example.com"))
		ok(t, err)
		equal(t, "FindAccountByTokenHash", got, b)
	}},
	{"FindAccountByTokenHash/ErrNotFound", func(t *testing.T, f *fixture) {
		f.account("a@example.com")
		_, err := f.s.FindAccountByTokenHash(f.ctx, []byte("other"))
		wantErr(t, err, controlplane.ENOTFOUND, "no account has this API token")
	}},
	{"FindAccountByTokenHash/ErrEmptyHash", func(t *testing.T, f *fixture) {
		// An account without a token must not match an empty hash.
		ok(t, f.s.CreateAccount(f.ctx, &controlplane.Account{ID: "acct_1", Email: "a@example.com", CreatedOn: t0}))
		for _, hash := range [][]byte{nil, {}} {
			_, err := f.s.FindAccountByTokenHash(f.ctx, hash)
			wantErr(t, err, controlplane.ENOTFOUND, "no account has this API token")
		}
	}},
}
