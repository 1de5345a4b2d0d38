package broker

import (
	"errors"
	"fmt"
)

// Error codes of the broker packages. They are stable: callers match on
// them, never on messages.
const (
	// EINVALID: a feed event or broker description is malformed, such as
	// a key that is not a valid Ed25519 JWK or two brokers sharing a
	// hostname. The State it was applied to is unchanged.
	EINVALID = "invalid"
	// ESTALE: an event is older than the State it was applied to; the
	// config source has skipped or reordered events and should resync
	// from a snapshot.
	ESTALE = "stale"
	// EUNAUTHENTICATED, EFORBIDDEN, EUNAVAILABLE: a KeyIssuer's refusals.
	EUNAUTHENTICATED = "unauthenticated"
	EFORBIDDEN       = "forbidden"
	EUNAVAILABLE     = "unavailable"
)

// Error is the error type of the broker packages: a machine code (one of
// the E* constants) and a message for operators.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("broker: %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is or wraps an *Error, "" for
// nil, and "internal" for anything else.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return "internal"
}
