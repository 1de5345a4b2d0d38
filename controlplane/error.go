package controlplane

import (
	"errors"
	"fmt"
)

// Error codes. Each is a machine-readable reason that the HTTP layer maps to
// a status and to a stable numeric envelope code (see controlplane/http/error.go).
// Codes are part of the API contract: never renumber or reuse one.
const (
	EINTERNAL         = "internal"           // a bug or an unavailable dependency; details are logged, never shown
	EINVALID          = "invalid"            // a request field failed validation
	EMALFORMED        = "malformed"          // the body is not valid JSON
	EUNKNOWNFIELD     = "unknown_field"      // the body has a field we do not accept
	ETOOLARGE         = "too_large"          // the body exceeds the size limit
	ENOTFOUND         = "not_found"          // the addressed resource does not exist
	ENOROUTE          = "no_route"           // no API route has this path
	EMETHOD           = "method_not_allowed" // the route exists but not with this method
	ECONFLICT         = "conflict"           // a unique name is already taken
	ENOTEMPTY         = "not_empty"          // a namespace still holds brokers
	EUNAUTHENTICATED  = "unauthenticated"    // no credentials were sent
	EBADCREDENTIALS   = "bad_credentials"    // the credentials sent are not valid
	EFORBIDDEN        = "forbidden"          // valid credentials, but not for this account
	EAUTHTYPE         = "unsupported_auth_type"
	EINVALIDNAME      = "invalid_name"
	ENOTFOUNDJTI      = "jti_not_found"
	EREVOCATIONLIMIT  = "revocation_limit"
	EKEYINUSE         = "key_in_use"
	EINVALIDTOPIC     = "invalid_topic_filter"
	EINVALIDCREDPARAM = "invalid_credential_parameter"
)

// Error is the one error type the control plane returns to its callers. Code
// is one of the E* constants; Message is safe to show to the API user.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("pubsub error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err when it is (or wraps) an *Error, "" for
// nil, and EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// StoreError is a failure of the store itself (a lost connection, a full
// disk, a query the schema refuses) rather than a decision about the
// request. Stores return it, wrapping the driver's error; it is an
// internal error (ErrorCode answers EINTERNAL), logged and counted, never
// shown.
type StoreError struct {
	Store string // "postgres" or "sqlite"
	Err   error
}

// Error names the store and the driver's error.
func (e *StoreError) Error() string { return e.Store + ": " + e.Err.Error() }

// Unwrap returns the driver's error.
func (e *StoreError) Unwrap() error { return e.Err }

// IsStoreError reports whether err is or wraps a *StoreError.
func IsStoreError(err error) bool {
	var e *StoreError
	return errors.As(err, &e)
}

// ErrorMessage returns the human message of err when it is an *Error, and a
// generic text otherwise, so that internal details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrNamespaceNotFound is the error for a namespace name that the account
// does not have. Both stores use it so the message is the same everywhere.
func ErrNamespaceNotFound(name string) *Error {
	return Errorf(ENOTFOUND, "namespace %q not found", name)
}

// ErrBrokerNotFound is the error for a broker name that the namespace does not have.
func ErrBrokerNotFound(namespace, name string) *Error {
	return Errorf(ENOTFOUND, "broker %q not found in namespace %q", name, namespace)
}

// ErrNamespaceTaken is the error for a namespace name used by any account.
func ErrNamespaceTaken(name string) *Error {
	return Errorf(ECONFLICT, "namespace name %q is already taken; namespace names are globally unique, choose another", name)
}

// ErrBrokerTaken is the error for a broker name already used in its namespace.
func ErrBrokerTaken(namespace, name string) *Error {
	return Errorf(ECONFLICT, "broker name %q is already taken in namespace %q", name, namespace)
}

// ErrNamespaceNotEmpty is the error for deleting a namespace that still has brokers.
func ErrNamespaceNotEmpty(name string, brokers []string) *Error {
	return Errorf(ENOTEMPTY, "namespace %q still has brokers (%s); delete them first", name, joinQuoted(brokers))
}

func joinQuoted(names []string) string {
	s := ""
	for i, n := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q", n)
	}
	return s
}
