package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/openpubsub/pubsub/migrations"
	_ "modernc.org/sqlite"
)

func openDB(t *testing.T) migrations.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return migrations.FromSQL(db)
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func tables(t *testing.T, db migrations.DB) string {
	t.Helper()
	var names []string
	err := db.Query(context.Background(), `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`,
		func(scan func(...any) error) error {
			var n string
			if err := scan(&n); err != nil {
				return err
			}
			names = append(names, n)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, ",")
}

func TestUp(t *testing.T) {
	ctx := context.Background()
	v1 := fstest.MapFS{
		"0001_first.up.sql":   file("CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER);"),
		"0001_first.down.sql": file("DROP TABLE b; DROP TABLE a;"),
	}
	v2 := fstest.MapFS{
		"0001_first.up.sql":   v1["0001_first.up.sql"],
		"0001_first.down.sql": v1["0001_first.down.sql"],
		"0002_second.up.sql":  file("CREATE TABLE c (z INTEGER);"),
	}

	t.Run("OK", func(t *testing.T) {
		db := openDB(t)
		if err := migrations.Up(ctx, db, v1); err != nil {
			t.Fatal(err)
		}
		if got, want := tables(t, db), "a,b,schema_migrations"; got != want {
			t.Fatalf("tables = %q, want %q", got, want)
		}
		// Running again is a no-op; a new file is applied on its own.
		if err := migrations.Up(ctx, db, v1); err != nil {
			t.Fatal(err)
		}
		if err := migrations.Up(ctx, db, v2); err != nil {
			t.Fatal(err)
		}
		if got, want := tables(t, db), "a,b,c,schema_migrations"; got != want {
			t.Fatalf("tables = %q, want %q", got, want)
		}
		applied, err := migrations.AppliedMigrations(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(applied), 2; got != want {
			t.Fatalf("len(applied) = %d, want %d", got, want)
		}
		list, err := migrations.Load(v2)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range applied {
			if got, want := a.Checksum, list[i].Checksum; got != want {
				t.Errorf("applied[%d].Checksum = %q, want %q", i, got, want)
			}
			if a.AppliedAt.IsZero() {
				t.Errorf("applied[%d].AppliedAt is zero", i)
			}
		}
	})

	t.Run("ErrChecksumChanged", func(t *testing.T) {
		db := openDB(t)
		if err := migrations.Up(ctx, db, v1); err != nil {
			t.Fatal(err)
		}
		edited := fstest.MapFS{
			"0001_first.up.sql":  file("CREATE TABLE a (x INTEGER, extra TEXT); CREATE TABLE b (y INTEGER);"),
			"0002_second.up.sql": v2["0002_second.up.sql"],
		}
		err := migrations.Up(ctx, db, edited)
		if err == nil {
			t.Fatal("Up with an edited migration succeeded, want an error")
		}
		if got, want := err.Error(), "migration 0001_first was changed after it was applied"; !strings.Contains(got, want) {
			t.Fatalf("error = %q, want it to contain %q", got, want)
		}
		if got, want := tables(t, db), "a,b,schema_migrations"; got != want {
			t.Fatalf("tables = %q, want %q (nothing applied)", got, want)
		}
	})

	t.Run("ErrRenamed", func(t *testing.T) {
		db := openDB(t)
		if err := migrations.Up(ctx, db, v1); err != nil {
			t.Fatal(err)
		}
		renamed := fstest.MapFS{"0001_renamed.up.sql": v1["0001_first.up.sql"]}
		if err := migrations.Up(ctx, db, renamed); err == nil || !strings.Contains(err.Error(), "changed after it was applied") {
			t.Fatalf("Up = %v, want a changed-migration error", err)
		}
	})

	t.Run("ErrUnknownApplied", func(t *testing.T) {
		db := openDB(t)
		if err := migrations.Up(ctx, db, v2); err != nil {
			t.Fatal(err)
		}
		err := migrations.Up(ctx, db, v1)
		if err == nil || !strings.Contains(err.Error(), "migrated by a newer release") {
			t.Fatalf("Up = %v, want a newer-release error", err)
		}
	})

	t.Run("FailedMigrationRollsBack", func(t *testing.T) {
		db := openDB(t)
		bad := fstest.MapFS{
			"0001_first.up.sql":  v1["0001_first.up.sql"],
			"0002_broken.up.sql": file("CREATE TABLE c (z INTEGER); CREATE TABLE a (x INTEGER);"),
		}
		err := migrations.Up(ctx, db, bad)
		if err == nil || !strings.Contains(err.Error(), "apply 0002_broken") {
			t.Fatalf("Up = %v, want an apply error for 0002_broken", err)
		}
		if got, want := tables(t, db), "a,b,schema_migrations"; got != want {
			t.Fatalf("tables = %q, want %q (0001 applied, 0002 rolled back)", got, want)
		}
		applied, err := migrations.AppliedMigrations(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(applied), 1; got != want {
			t.Fatalf("len(applied) = %d, want %d", got, want)
		}
	})

	t.Run("Down", func(t *testing.T) {
		db := openDB(t)
		if err := migrations.Up(ctx, db, v2); err != nil {
			t.Fatal(err)
		}
		// 0002 has no down file: nothing is reverted.
		if err := migrations.Down(ctx, db, v2, 0); err == nil || !strings.Contains(err.Error(), "no down file") {
			t.Fatalf("Down = %v, want a no-down-file error", err)
		}
		if err := migrations.Down(ctx, db, v1, 0); err == nil {
			t.Fatal("Down with an unknown applied migration succeeded, want an error")
		}
		db = openDB(t)
		if err := migrations.Up(ctx, db, v1); err != nil {
			t.Fatal(err)
		}
		if err := migrations.Down(ctx, db, v1, 0); err != nil {
			t.Fatal(err)
		}
		if got, want := tables(t, db), "schema_migrations"; got != want {
			t.Fatalf("tables = %q, want %q", got, want)
		}
	})
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{"OK", fstest.MapFS{"0001_a.up.sql": file("x"), "0001_a.down.sql": file("y"), "0002_b.up.sql": file("z")}, ""},
		{"ErrBadName", fstest.MapFS{"1_a.up.sql": file("x")}, "is not named"},
		{"ErrGap", fstest.MapFS{"0001_a.up.sql": file("x"), "0003_c.up.sql": file("z")}, "no gaps"},
		{"ErrDuplicate", fstest.MapFS{"0001_a.up.sql": file("x"), "0001_b.up.sql": file("z")}, "is used by both"},
		{"ErrDownWithoutUp", fstest.MapFS{"0001_a.up.sql": file("x"), "0001_b.down.sql": file("z")}, "no matching up file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := migrations.Load(tt.fsys)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestEmbedded checks that both embedded sets load, and that the SQLite set
// applies, reverts and applies again. The Postgres set is applied by the
// postgres store's tests.
func TestEmbedded(t *testing.T) {
	for name, set := range map[string]fs.FS{"postgres": migrations.Postgres(), "sqlite": migrations.SQLite()} {
		list, err := migrations.Load(set)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(list) == 0 {
			t.Fatalf("%s: no migrations embedded", name)
		}
		for _, m := range list {
			if m.Down == "" {
				t.Errorf("%s: %04d_%s has no down file", name, m.Version, m.Name)
			}
		}
	}

	ctx := context.Background()
	db := openDB(t)
	if err := migrations.Up(ctx, db, migrations.SQLite()); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Down(ctx, db, migrations.SQLite(), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := tables(t, db), "schema_migrations"; got != want {
		t.Fatalf("tables after Down = %q, want %q", got, want)
	}
	if err := migrations.Up(ctx, db, migrations.SQLite()); err != nil {
		t.Fatal(err)
	}
}
