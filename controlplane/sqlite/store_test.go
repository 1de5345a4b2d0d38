package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/controlplane/sqlite"
	"github.com/openpubsub/pubsub/controlplane/storetest"
	"github.com/openpubsub/pubsub/migrations"
)

func open(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "pubsub.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) controlplane.Store { return open(t) })
}

func BenchmarkCreateCredentials(b *testing.B) {
	storetest.BenchCreateCredentials(b, func(b *testing.B) controlplane.Store { return open(b) })
}

func BenchmarkFindBroker(b *testing.B) {
	storetest.BenchFindBroker(b, func(b *testing.B) controlplane.Store { return open(b) })
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "dir", "pubsub.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		a := &controlplane.Account{ID: "acct_1", Email: "a@example.com"}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.FindAccount(ctx, "acct_1"); err != nil {
			t.Fatal(err)
		}
		var mode string
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if got, want := mode, "wal"; got != want {
			t.Fatalf("journal_mode = %q, want %q", got, want)
		}
	})

	t.Run("ErrMigrationChanged", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pubsub.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = sqlite.Open(ctx, path)
		if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
			t.Fatalf("Open = %v, want a changed-migration error", err)
		}
	})

	t.Run("ErrNotAPath", func(t *testing.T) {
		for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
			if _, err := sqlite.Open(ctx, path); err == nil {
				t.Errorf("Open(%q) succeeded, want an error", path)
			}
		}
	})
}

// TestMigrationsDown checks that the SQLite down migrations revert
// everything the up migrations create, 0002's table rebuild included, and
// that the schema comes back up.
func TestMigrationsDown(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pubsub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mdb := migrations.FromSQL(db)
	if err := migrations.Down(ctx, mdb, migrations.SQLite(), 0); err != nil {
		t.Fatal(err)
	}
	var tables []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if got, want := strings.Join(tables, ","), "schema_migrations"; got != want {
		t.Fatalf("tables after Down = %q, want %q", got, want)
	}
	if err := migrations.Up(ctx, mdb, migrations.SQLite()); err != nil {
		t.Fatal(err)
	}
}
