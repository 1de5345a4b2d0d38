package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/openpubsub/pubsub/controlplane"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Constraint violations, by extended result code. The schema keeps at most
// one UNIQUE constraint per table besides the primary key, so the code
// alone says which constraint failed.
const (
	primaryKeyViolation = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	uniqueViolation     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	foreignKeyViolation = sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
)

// interpretError translates what the driver returns into the control
// plane's errors, by result code, never by message text. A
// *controlplane.Error (a decision taken inside a transaction) and context
// errors pass through; no rows becomes ENOTFOUND and a primary-key or
// unique violation ECONFLICT, with generic messages: call sites that can
// say more check violation first. Anything else is an internal error,
// wrapped so that it is logged but never shown.
func interpretError(err error) error {
	var cpErr *controlplane.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cpErr):
		return cpErr
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return controlplane.Errorf(controlplane.ENOTFOUND, "not found")
	}
	if c := violation(err); c == primaryKeyViolation || c == uniqueViolation {
		return controlplane.Errorf(controlplane.ECONFLICT, "already exists")
	}
	return &controlplane.StoreError{Store: "sqlite", Err: err}
}

// violation returns the extended result code of err when it is a
// constraint violation, and 0 otherwise.
func violation(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return e.Code()
	}
	return 0
}
