package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/controlplane/postgres"
	"github.com/openpubsub/pubsub/controlplane/storetest"
	"github.com/openpubsub/pubsub/internal/pgtest"
	"github.com/openpubsub/pubsub/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), pgtest.New(tb))
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
		url := pgtest.New(t)
		for range 2 {
			s, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
		}
	})

	t.Run("ConcurrentOpen", func(t *testing.T) {
		url := pgtest.New(t)
		errs := make(chan error, 4)
		for range cap(errs) {
			go func() {
				s, err := postgres.Open(ctx, url)
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for range cap(errs) {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("ErrMigrationChanged", func(t *testing.T) {
		url := pgtest.New(t)
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1`); err != nil {
			t.Fatal(err)
		}
		_, err = postgres.Open(ctx, url)
		if err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
			t.Fatalf("Open = %v, want a changed-migration error", err)
		}
	})

	t.Run("ErrBadURL", func(t *testing.T) {
		if _, err := postgres.Open(ctx, "postgres://127.0.0.1:1/none?connect_timeout=1"); err == nil {
			t.Fatal("Open of an unreachable server succeeded")
		}
	})
}

// TestMigrationsDown checks that the Postgres down migrations revert
// everything the up migrations create.
func TestMigrationsDown(t *testing.T) {
	ctx := context.Background()
	url := pgtest.New(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	db := postgres.MigrationDB(conn)
	if err := migrations.Down(ctx, db, migrations.Postgres(), 0); err != nil {
		t.Fatal(err)
	}
	var tables []string
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(tables, ","), "schema_migrations"; got != want {
		t.Fatalf("tables after Down = %q, want %q", got, want)
	}
	if err := migrations.Up(ctx, db, migrations.Postgres()); err != nil {
		t.Fatal(err)
	}
}
