// Package postgres implements controlplane.Store on PostgreSQL with pgx.
//
// Open applies the embedded migrations (package migrations) under an
// advisory lock, so several control-plane processes can start at once.
// Database errors are translated where they arise (see error.go): callers
// only ever see *controlplane.Error values or wrapped internal errors.
//
// Every mutation of namespaces, brokers, keys and revocations appends to
// the change feed in its own transaction. Revisions come from a one-row
// counter that each writer increments last, holding its row lock until
// commit, so revisions are assigned in commit order; the transaction also
// calls pg_notify, and ListenChanges turns those notifications into calls,
// so every control-plane process can wake the feed readers it serves.
//
// All timestamps are written truncated to the microsecond (Postgres would
// round them) and read back in UTC. Create methods normalise the
// timestamps of the value they are given in the same way, so that a value
// read back compares equal to the one written.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/migrations"
)

// Store is the Postgres implementation of controlplane.Store.
type Store struct {
	pool *pgxpool.Pool
}

var _ controlplane.Store = (*Store)(nil)

// migrationLock is the pg_advisory_lock key held while migrating
// (an arbitrary constant: "pubsub" in ASCII).
const migrationLock = 0x707562737562

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string; pgxpool settings such as pool_max_conns are honoured),
// applies pending migrations and returns the store. It fails when a
// migration already applied to the database differs from the embedded one.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// migrate applies the migrations on one connection holding an advisory
// lock, so that processes starting together apply each migration once.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("postgres: lock for migrations: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", int64(migrationLock)); err != nil {
			// The session may still hold the lock: do not return it to the pool.
			_ = conn.Hijack().Close(uctx)
		}
	}()
	if err := migrations.Up(ctx, MigrationDB(conn.Conn()), migrations.Postgres()); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// MigrationDB adapts a pgx connection to migrations.DB, for tools that
// run migrations.Up or migrations.Down themselves. Open migrates on its own.
func MigrationDB(conn *pgx.Conn) migrations.DB { return migrationConn{conn} }

type migrationConn struct{ conn *pgx.Conn }

type migrationExec struct {
	exec func(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func (e migrationExec) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := e.exec(ctx, sql, args...)
	return err
}

func (c migrationConn) Exec(ctx context.Context, sql string, args ...any) error {
	return migrationExec{c.conn.Exec}.Exec(ctx, sql, args...)
}

func (c migrationConn) Query(ctx context.Context, sql string, each func(scan func(dest ...any) error) error) error {
	rows, err := c.conn.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (c migrationConn) Tx(ctx context.Context, fn func(tx migrations.Execer) error) error {
	return pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error { return fn(migrationExec{tx.Exec}) })
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return &controlplane.StoreError{Store: "postgres", Err: err}
	}
	return nil
}

// Close closes every connection of the pool. It waits for connections in
// use to be released.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// write runs fn in a read-write transaction. Errors of fn are returned as
// they are; interpretError maps database errors that fn passes through.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return interpretError(pgx.BeginFunc(ctx, s.pool, fn))
}

// read runs fn in a read-only REPEATABLE READ transaction: every query of
// fn sees the same snapshot.
func (s *Store) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return interpretError(pgx.BeginTxFunc(ctx, s.pool, opts, fn))
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

// limitOffset turns a page into LIMIT and OFFSET arguments. A page size of
// zero or less means every row (LIMIT NULL); pages count from 1.
func limitOffset(p controlplane.Page) (limit any, offset int) {
	if p.PerPage <= 0 {
		return nil, 0
	}
	if p.Page < 1 {
		p.Page = 1
	}
	return p.PerPage, p.Offset()
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Rows) (T, error)) ([]T, error) {
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

// count runs a count(*) query.
func count(ctx context.Context, q querier, sql string, args ...any) (int, error) {
	var n int
	err := q.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

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
