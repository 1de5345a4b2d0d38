// Package testenv gives tests the real parts they run against: both stores
// (the embedded SQLite file and a throwaway Postgres), and a control plane
// on port 0.
package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/controlplane/postgres"
	"github.com/openpubsub/pubsub/controlplane/sqlite"
	"github.com/openpubsub/pubsub/internal/pgtest"
)

// StoreKinds are the stores every API test runs on.
var StoreKinds = []string{"sqlite", "postgres"}

// OpenStore opens a fresh, empty store of the given kind, closed when the
// test ends.
func OpenStore(t testing.TB, kind string) controlplane.Store {
	t.Helper()
	ctx := context.Background()
	var (
		st  controlplane.Store
		err error
	)
	switch kind {
	case "sqlite":
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "pubsub.db"))
	case "postgres":
		st, err = postgres.Open(ctx, pgtest.New(t))
	default:
		t.Fatalf("unknown store kind %q", kind)
	}
	if err != nil {
		t.Fatalf("open %s store: %v", kind, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// EachStore runs fn as a subtest on every store kind.
func EachStore(t *testing.T, fn func(t *testing.T, st controlplane.Store)) {
	t.Helper()
	for _, kind := range StoreKinds {
		t.Run(kind, func(t *testing.T) { fn(t, OpenStore(t, kind)) })
	}
}

// KEK is a fixed key-encryption key for tests.
var KEK = []byte("0123456789abcdef0123456789abcdef")
