package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/openpubsub/pubsub/controlplane"
)

// SQLSTATE codes the store reacts to.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// interpretError translates what pgx returns into the control plane's
// errors, by SQLSTATE, never by message text. A *controlplane.Error (a
// decision taken inside a transaction) and context errors pass through;
// no rows becomes ENOTFOUND and a unique violation ECONFLICT, with generic
// messages: call sites that can say more check violated first. Anything
// else is an internal error, wrapped so that it is logged but never shown.
func interpretError(err error) error {
	var cpErr *controlplane.Error
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &cpErr):
		return cpErr
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return controlplane.Errorf(controlplane.ENOTFOUND, "not found")
	case errors.As(err, &pgErr) && pgErr.Code == uniqueViolation:
		return controlplane.Errorf(controlplane.ECONFLICT, "already exists")
	}
	return &controlplane.StoreError{Store: "postgres", Err: err}
}

// violated returns the name of the constraint err violates when it is a
// unique or foreign-key violation, and "" otherwise. Constraint names are
// set in migrations/postgres.
func violated(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == uniqueViolation || pgErr.Code == foreignKeyViolation) {
		return pgErr.ConstraintName
	}
	return ""
}
