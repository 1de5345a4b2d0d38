package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/openpubsub/pubsub/broker"
)

// Error codes of the edge. They are stable: clients match on them (or on
// the numbers errorTable gives them), never on messages.
const (
	EMISSINGTOPIC  = "missing_topic"       // no topic parameter
	EINVALIDTOPIC  = "invalid_topic"       // a topic name or filter is malformed
	ETOOMANYTOPICS = "too_many_topics"     // more distinct topics than Config.MaxTopics
	EINVALIDPARAM  = "invalid_param"       // retain, ttl, durable or the query string is malformed
	ENOTOKEN       = "no_token"            // neither Authorization: Bearer nor ?auth=
	EBADTOKEN      = "bad_token"           // malformed, unverifiable, expired, revoked, or for another broker
	EFORBIDDEN     = "forbidden"           // the token does not allow this topic
	ETOOLARGE      = "too_large"           // the body does not fit in an MQTT packet
	ERETAINEDQUOTA = "retained_quota"      // a retained publish would exceed the broker's retained messages or bytes
	ENOTFOUND      = "not_found"           // no such path
	EMETHOD        = "method"              // the path does not take this method
	EUNAVAILABLE   = "unavailable"         // the broker is not served here any more, or the node is stopping
	EWEBSOCKET     = "websocket"           // a WebSocket handshake the edge refuses
	ESLOW          = "slow_client"         // the stream fell too far behind and was ended
	EREVOKED       = "revoked"             // the stream's token was revoked or its key removed
	EEXPIRED       = "expired"             // the stream's token expired, or the broker's expiration ended it
	ERATE          = "rate_limited"        // the token published faster than the node's message rate
	EACCOUNT       = "account_credentials" // POST /admin/keys: account credentials missing or refused
	EACCOUNTDENIED = "account_forbidden"   // POST /admin/keys: the broker is not the account's, or has too many keys
	EHOOK          = "hook_failed"         // the broker's on-publish hook failed, and dropped the message
	EINTERNAL      = "internal"            // anything else; details are logged, never sent
)

// errorInfo is how one code appears on the wire.
type errorInfo struct {
	Status int // HTTP status, before a stream starts
	Number int // the envelope's errors[].code; stable, never renumbered
}

// errorTable is the one place where codes map to HTTP statuses and
// numbers; README.md documents the same table.
var errorTable = map[string]errorInfo{
	EMISSINGTOPIC:  {http.StatusBadRequest, 20000},
	EINVALIDTOPIC:  {http.StatusBadRequest, 20001},
	ETOOMANYTOPICS: {http.StatusBadRequest, 20002},
	EINVALIDPARAM:  {http.StatusBadRequest, 20003},
	ENOTOKEN:       {http.StatusUnauthorized, 20010},
	EBADTOKEN:      {http.StatusUnauthorized, 20011},
	EFORBIDDEN:     {http.StatusForbidden, 20012},
	ETOOLARGE:      {http.StatusRequestEntityTooLarge, 20020},
	ERETAINEDQUOTA: {http.StatusInsufficientStorage, 20021},
	ENOTFOUND:      {http.StatusNotFound, 20030},
	EMETHOD:        {http.StatusMethodNotAllowed, 20031},
	EWEBSOCKET:     {http.StatusBadRequest, 20032},
	EUNAVAILABLE:   {http.StatusServiceUnavailable, 20040},
	ESLOW:          {http.StatusServiceUnavailable, 20041},
	EREVOKED:       {http.StatusUnauthorized, 20042},
	EEXPIRED:       {http.StatusUnauthorized, 20043},
	ERATE:          {http.StatusTooManyRequests, 20050},
	EACCOUNT:       {http.StatusUnauthorized, 20060},
	EACCOUNTDENIED: {http.StatusForbidden, 20061},
	EHOOK:          {http.StatusBadGateway, 20070},
	EINTERNAL:      {http.StatusInternalServerError, 20500},
}

// Error is the error type of the edge: a code (one of the E* constants)
// and a message that is safe to show the client.
type Error struct {
	Code    string
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrDropped is a Bus's answer to a publish the broker's on-publish hook
// left out on purpose: the publish succeeded, and nobody gets it.
var ErrDropped = errors.New("the on-publish hook dropped the message")

// HookFailed is a Bus's answer to a publish whose on-publish hook request
// failed (outcome names how), which dropped the message.
func HookFailed(outcome string) error {
	return errorf(EHOOK, "the broker's on-publish hook failed (%s); the message was dropped", outcome)
}

// info returns the wire form of e; unknown codes are internal.
func (e *Error) info() errorInfo {
	if i, ok := errorTable[e.Code]; ok {
		return i
	}
	return errorTable[EINTERNAL]
}

// envelope is the Cloudflare v4 envelope the control plane uses too, so
// that one client parses both.
type envelope struct {
	Result   any             `json:"result"`
	Success  bool            `json:"success"`
	Errors   []envelopeError `json:"errors"`
	Messages []any           `json:"messages"`
}

type envelopeError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// errorJSON returns e in the envelope.
func (e *Error) errorJSON() []byte {
	b, _ := json.Marshal(envelope{Errors: []envelopeError{{Code: e.info().Number, Message: e.Message}}, Messages: []any{}})
	return b
}

// writeError answers with e before any stream starts.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	switch e.Code {
	case ENOTOKEN:
		h.Set("WWW-Authenticate", `Bearer realm="pubsub"`)
	case EBADTOKEN, EREVOKED, EEXPIRED:
		h.Set("WWW-Authenticate", `Bearer realm="pubsub", error="invalid_token"`)
	case EFORBIDDEN:
		h.Set("WWW-Authenticate", `Bearer realm="pubsub", error="insufficient_scope"`)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.info().Status)
	_, _ = w.Write(append(e.errorJSON(), '\n'))
}

// writeJSON answers 200 with result in the envelope.
func writeJSON(w http.ResponseWriter, result any) {
	b, err := json.Marshal(envelope{Result: result, Success: true, Errors: []envelopeError{}, Messages: []any{}})
	if err != nil {
		writeError(w, errorf(EINTERNAL, "internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}

// streamError is the edge's error for a stream ended by the security
// rules, sent as its last event.
func streamError(r *broker.Refusal) *Error {
	switch r.Reason {
	case broker.ReasonRevoked, broker.ReasonKeyRemoved, broker.ReasonSelfSignedChanged:
		return &Error{EREVOKED, r.Message}
	case broker.ReasonExpired, broker.ReasonTooOld:
		return &Error{EEXPIRED, r.Message}
	}
	return &Error{EUNAVAILABLE, r.Message}
}

// refusalError is the edge's error for a refusal of the security rules:
// 401 whatever the reason (unknown key included), since a token the node
// cannot verify is not a server error.
func refusalError(r *broker.Refusal) *Error {
	switch r.Reason {
	case broker.ReasonNoToken:
		return errorf(ENOTOKEN, "a token is required: send \"Authorization: Bearer <token>\" or the auth query parameter")
	case broker.ReasonUnavailable, broker.ReasonDeleted, broker.ReasonShutdown:
		return errorf(EUNAVAILABLE, "the broker is not available on this node")
	}
	return errorf(EBADTOKEN, "%s", r.Message)
}
