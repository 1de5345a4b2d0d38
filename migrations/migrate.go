package migrations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// Migration is one numbered schema change.
type Migration struct {
	Version  int64
	Name     string // the part of the file name between the number and ".up.sql"
	Up       string
	Down     string // "" when the migration has no down file
	Checksum string // hex SHA-256 of Up
}

// Execer runs one SQL statement with args, or a script of several statements
// when called without args.
type Execer interface {
	Exec(ctx context.Context, query string, args ...any) error
}

// DB is what the runner needs from a database. Each store adapts its driver
// to it (FromSQL adapts a database/sql handle). Queries use $1, $2, ...
// placeholders, which both Postgres and SQLite understand.
type DB interface {
	Execer
	// Query runs query and calls each once per result row with a function
	// that scans the row into dest.
	Query(ctx context.Context, query string, each func(scan func(dest ...any) error) error) error
	// Tx runs fn in one transaction: it commits when fn returns nil and
	// rolls back otherwise.
	Tx(ctx context.Context, fn func(tx Execer) error) error
}

var fileName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

// Load reads the migrations in fsys, sorted by version. It fails on a file
// whose name does not follow NNNN_name.up.sql or NNNN_name.down.sql, on a
// down file without its up file, on two files for one version, and on a gap
// in the numbering, which would mean a file was lost.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	byVersion := map[int64]*Migration{}
	downs := map[int64][2]string{} // version -> name, text
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: file %q is not named NNNN_name.up.sql or NNNN_name.down.sql", e.Name())
		}
		version, _ := strconv.ParseInt(m[1], 10, 64)
		text, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		if m[3] == "down" {
			if _, dup := downs[version]; dup {
				return nil, fmt.Errorf("migrations: two down files for version %04d", version)
			}
			downs[version] = [2]string{m[2], string(text)}
			continue
		}
		if prev, dup := byVersion[version]; dup {
			return nil, fmt.Errorf("migrations: version %04d is used by both %q and %q", version, prev.Name, m[2])
		}
		sum := sha256.Sum256(text)
		byVersion[version] = &Migration{Version: version, Name: m[2], Up: string(text), Checksum: hex.EncodeToString(sum[:])}
	}
	for version, d := range downs {
		m, ok := byVersion[version]
		if !ok || m.Name != d[0] {
			return nil, fmt.Errorf("migrations: down file %04d_%s has no matching up file", version, d[0])
		}
		m.Down = d[1]
	}
	list := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		list = append(list, *m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Version < list[j].Version })
	for i, m := range list {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migrations: expected version %04d, found %04d_%s: versions start at 0001 and have no gaps", i+1, m.Version, m.Name)
		}
	}
	return list, nil
}

// Applied is one row of the schema_migrations table.
type Applied struct {
	Version   int64
	Name      string
	Checksum  string
	AppliedAt time.Time
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	name TEXT NOT NULL,
	checksum TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// AppliedMigrations returns the migrations recorded in db, in version order.
// It creates the schema_migrations table when it does not exist yet.
func AppliedMigrations(ctx context.Context, db DB) ([]Applied, error) {
	if err := db.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	var applied []Applied
	err := db.Query(ctx, `SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version`,
		func(scan func(dest ...any) error) error {
			var a Applied
			var at string
			if err := scan(&a.Version, &a.Name, &a.Checksum, &at); err != nil {
				return err
			}
			a.AppliedAt, _ = time.Parse(time.RFC3339Nano, at)
			applied = append(applied, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("migrations: read schema_migrations: %w", err)
	}
	return applied, nil
}

// Up applies the migrations of fsys that db has not applied yet, in order,
// each in its own transaction together with its schema_migrations row. It
// applies nothing and returns an error when an applied migration's checksum
// or name differs from the file in fsys (migrations are append-only), or
// when db has applied a migration that fsys does not have (the database was
// migrated by a newer release).
//
// Up does not guard against two processes migrating at once: a store that
// can be opened by several processes takes a lock around it.
func Up(ctx context.Context, db DB, fsys fs.FS) error {
	list, err := Load(fsys)
	if err != nil {
		return err
	}
	applied, err := AppliedMigrations(ctx, db)
	if err != nil {
		return err
	}
	if err := verify(list, applied); err != nil {
		return err
	}
	for _, m := range list[len(applied):] {
		err := db.Tx(ctx, func(tx Execer) error {
			if err := tx.Exec(ctx, m.Up); err != nil {
				return err
			}
			return tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)`,
				m.Version, m.Name, m.Checksum, time.Now().UTC().Format(time.RFC3339Nano))
		})
		if err != nil {
			return fmt.Errorf("migrations: apply %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// verify checks that applied is a prefix of list, unchanged.
func verify(list []Migration, applied []Applied) error {
	for i, a := range applied {
		if i >= len(list) || list[i].Version != a.Version {
			return fmt.Errorf("migrations: the database has migration %04d_%s, which this release does not know: "+
				"it was migrated by a newer release; run that release or a later one", a.Version, a.Name)
		}
		m := list[i]
		if m.Name != a.Name || m.Checksum != a.Checksum {
			return fmt.Errorf("migrations: migration %04d_%s was changed after it was applied "+
				"(the database has %04d_%s with checksum %s, this release has checksum %s); "+
				"migrations are append-only: restore the original file and put the change in a new migration",
				m.Version, m.Name, a.Version, a.Name, a.Checksum, m.Checksum)
		}
	}
	return nil
}

// Down reverts the applied migrations of fsys with a version above target,
// newest first, each in its own transaction with the removal of its
// schema_migrations row. It is meant for operators and tests; stores never
// call it. It fails, reverting nothing, when the applied migrations do not
// match fsys or when one to revert has no down file.
func Down(ctx context.Context, db DB, fsys fs.FS, target int64) error {
	list, err := Load(fsys)
	if err != nil {
		return err
	}
	applied, err := AppliedMigrations(ctx, db)
	if err != nil {
		return err
	}
	if err := verify(list, applied); err != nil {
		return err
	}
	for i := len(applied) - 1; i >= 0 && list[i].Version > target; i-- {
		if list[i].Down == "" {
			return fmt.Errorf("migrations: %04d_%s has no down file", list[i].Version, list[i].Name)
		}
	}
	for i := len(applied) - 1; i >= 0 && list[i].Version > target; i-- {
		m := list[i]
		err := db.Tx(ctx, func(tx Execer) error {
			if err := tx.Exec(ctx, m.Down); err != nil {
				return err
			}
			return tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version)
		})
		if err != nil {
			return fmt.Errorf("migrations: revert %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}
