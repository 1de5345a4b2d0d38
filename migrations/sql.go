package migrations

import (
	"context"
	"database/sql"
)

// FromSQL adapts a database/sql handle to DB. The driver must accept
// several statements in one Exec without args, as modernc.org/sqlite does.
func FromSQL(db *sql.DB) DB { return sqlDB{db} }

type sqlDB struct{ db *sql.DB }

type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type sqlExec struct{ e sqlExecer }

func (e sqlExec) Exec(ctx context.Context, query string, args ...any) error {
	_, err := e.e.ExecContext(ctx, query, args...)
	return err
}

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) error {
	return sqlExec{d.db}.Exec(ctx, query, args...)
}

func (d sqlDB) Query(ctx context.Context, query string, each func(scan func(dest ...any) error) error) error {
	rows, err := d.db.QueryContext(ctx, query)
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

func (d sqlDB) Tx(ctx context.Context, fn func(tx Execer) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqlExec{tx}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
