// Package sqlite implements controlplane.Store on an embedded SQLite file,
// with modernc.org/sqlite (pure Go, no cgo), for single-process
// deployments and development.
//
// The database runs in WAL mode, so readers never block the writer and the
// writer never blocks readers. All writes go through one connection whose
// transactions begin IMMEDIATE: inside the process, writers queue for that
// connection instead of racing for SQLite's lock, so concurrent requests
// never see SQLITE_BUSY; busy_timeout covers anyone else touching the file.
// Reads use a separate pool of read-only connections. synchronous=NORMAL
// keeps the database consistent after a crash but may lose the last
// transactions on power loss, the usual trade-off for WAL.
//
// Timestamps are stored as INTEGER microseconds since the epoch and read
// back in UTC. Create methods normalise the timestamps of the value they
// are given in the same way, so a value read back compares equal.
//
// Every mutation of namespaces, brokers, keys and revocations appends to
// the change feed in its own transaction. There is one writer, so the
// revision counter follows commit order by construction.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/migrations"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Store is the SQLite implementation of controlplane.Store.
type Store struct {
	writeDB *sql.DB // one connection: writes are serialised here
	readDB  *sql.DB // read-only connections

	insertCredential *sql.Stmt // prepared on writeDB, for the minting hot path

	mu        sync.Mutex
	listeners map[*listener]struct{}
}

var _ controlplane.Store = (*Store)(nil)

// Open opens (creating it and its directory if needed) the database file
// at path, applies pending migrations and returns the store. It fails when
// a migration already applied to the file differs from the embedded one.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: %q is not a plain file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// busy_timeout comes first (the driver applies it before the others),
	// so that even switching to WAL waits for another process's lock.
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	writeDB, err := sql.Open("sqlite", path+"?_txlock=immediate&_pragma=journal_mode(WAL)&"+common)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	writeDB.SetConnMaxIdleTime(0)
	s := &Store{writeDB: writeDB, listeners: map[*listener]struct{}{}}
	if err := migrations.Up(ctx, migrations.FromSQL(writeDB), migrations.SQLite()); err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	s.readDB, err = sql.Open("sqlite", path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.readDB.SetMaxOpenConns(n)
	s.readDB.SetMaxIdleConns(n)
	s.readDB.SetConnMaxIdleTime(0)
	s.readDB.SetConnMaxLifetime(0)

	s.insertCredential, err = writeDB.PrepareContext(ctx, `
		INSERT INTO credentials (broker_id, jti, client_id, key_id, issued_at, expires_at,
		                         topic_acl, publish_acl, subscribe_acl)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`)
	if err == nil {
		err = s.readDB.PingContext(ctx)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.readDB.PingContext(ctx); err != nil {
		return &controlplane.StoreError{Store: "sqlite", Err: err}
	}
	return nil
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	var errs []error
	if s.insertCredential != nil {
		errs = append(errs, s.insertCredential.Close())
	}
	if s.readDB != nil {
		errs = append(errs, s.readDB.Close())
	}
	errs = append(errs, s.writeDB.Close())
	return errors.Join(errs...)
}

// tx is a write transaction. changes records the highest revision it
// appended, so that listeners hear of it once the transaction commits.
type tx struct {
	*sql.Tx
	rev int64
}

// write runs fn in a write transaction (BEGIN IMMEDIATE on the one write
// connection), commits when fn returns nil and then tells listeners about
// the changes it recorded. Errors of fn pass through interpretError.
func (s *Store) write(ctx context.Context, fn func(tx *tx) error) error {
	sqlTx, err := s.writeDB.BeginTx(ctx, nil)
	if err != nil {
		return interpretError(err)
	}
	t := &tx{Tx: sqlTx}
	if err := fn(t); err != nil {
		_ = sqlTx.Rollback()
		return interpretError(err)
	}
	if err := sqlTx.Commit(); err != nil {
		return interpretError(err)
	}
	if t.rev > 0 {
		s.notify(t.rev)
	}
	return nil
}

// read runs fn in one read transaction: in WAL mode every query of fn sees
// the same snapshot of the database.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	sqlTx, err := s.readDB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return interpretError(err)
	}
	defer sqlTx.Rollback()
	return interpretError(fn(sqlTx))
}

// querier is what both a database and a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// micros is how the schema stores a timestamp.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsPtr is micros for optional timestamps; nil is NULL.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros turns a stored timestamp back into a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros is fromMicros for nullable columns.
func fromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

// ts normalises a timestamp to what the database stores: UTC, microseconds.
func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// tsPtr is ts for optional timestamps.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// now is the store's clock for times it records itself (change rows, key
// state changes).
func now() time.Time { return ts(time.Now()) }

// created normalises the creation and modification times of a new row:
// a zero creation time means now, a zero modification time means created.
func created(createdOn, modifiedOn time.Time) (time.Time, time.Time) {
	if createdOn.IsZero() {
		createdOn = time.Now()
	}
	if modifiedOn.IsZero() {
		modifiedOn = createdOn
	}
	return ts(createdOn), ts(modifiedOn)
}

// limitOffset turns a page into LIMIT and OFFSET arguments. A page size of
// zero or less means every row (LIMIT -1); pages count from 1.
func limitOffset(p controlplane.Page) (limit, offset int) {
	if p.PerPage <= 0 {
		return -1, 0
	}
	if p.Page < 1 {
		p.Page = 1
	}
	return p.PerPage, p.Offset()
}

// scanner is *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// query runs a query and scans every row.
func query[T any](ctx context.Context, q querier, scan func(scanner) (T, error), sqlText string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
}

func scanString(row scanner) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

// count runs a count(*) query.
func count(ctx context.Context, q querier, sqlText string, args ...any) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, sqlText, args...).Scan(&n)
	return n, err
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
