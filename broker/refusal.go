package broker

import "github.com/openpubsub/pubsub/pkg/token"

// Reason names a rule that refuses a token or ends a session. Reasons are
// stable: they are the reason label of the node's metrics and the reason
// field of its logs, and each protocol maps them to its own codes in one
// place (MQTT reason codes in broker/node, HTTP errors in broker/edge).
type Reason string

// The reasons of refusals and of sessions ended by a configuration change.
// The token package's reasons (malformed, algorithm, unknown_key,
// signature, claims, audience, expired, not_yet_valid) are reasons too.
const (
	ReasonNoToken      Reason = "no_token"       // no token was sent
	ReasonTokenTooLong Reason = "token_too_long" // longer than MaxTokenLen
	ReasonMalformed    Reason = Reason(token.ReasonMalformed)
	ReasonUnknownKey   Reason = Reason(token.ReasonUnknownKey)
	ReasonClaims       Reason = Reason(token.ReasonClaims) // also: ACLs that do not compile
	ReasonRevoked      Reason = "revoked"                  // the token's jti is revoked
	ReasonKeyRemoved   Reason = "key_removed"              // the key that signed it is gone
	ReasonTooOld       Reason = "too_old"                  // older than the broker's expiration allows
	ReasonExpired      Reason = Reason(token.ReasonExpired)
	ReasonUnavailable  Reason = "unavailable"    // the broker is not served here (deleted meanwhile)
	ReasonDeleted      Reason = "broker_deleted" // the broker was deleted while connected
	ReasonShutdown     Reason = "shutdown"       // the node is shutting down
	// ReasonSelfSignedChanged: the broker's fastly_wildcards setting
	// changed, which changes what a self-signed token allows.
	ReasonSelfSignedChanged Reason = "self_signed_changed"
)

// Refusal is why a token is refused or a session ended: its reason and a
// message for the client, which never repeats the token.
type Refusal struct {
	Reason  Reason
	Message string
}

// Error implements error, so that a refusal can travel as one.
func (r *Refusal) Error() string { return r.Message }

// The refusals the security rules produce; the token package adds one per
// token.Reason, with its own message.
var (
	RefuseNoToken      = &Refusal{ReasonNoToken, "a token is required"}
	RefuseTokenTooLong = &Refusal{ReasonTokenTooLong, "the token is longer than 4096 bytes"}
	RefuseMalformed    = &Refusal{ReasonMalformed, "token is invalid"}
	RefuseBadACL       = &Refusal{ReasonClaims, "token ACL is invalid"}
	RefuseRevoked      = &Refusal{ReasonRevoked, "token has been revoked"}
	RefuseKeyRemoved   = &Refusal{ReasonKeyRemoved, "the key that signed the token has been removed"}
	RefuseTooOld       = &Refusal{ReasonTooOld, "token is older than the broker's expiration allows"}
	RefuseExpired      = &Refusal{ReasonExpired, "token has expired"}
	RefuseUnavailable  = &Refusal{ReasonUnavailable, "broker is not available on this node"}
	RefuseDeleted      = &Refusal{ReasonDeleted, "broker has been deleted"}
	RefuseShutdown     = &Refusal{ReasonShutdown, "server shutting down"}

	RefuseSelfSignedChanged = &Refusal{ReasonSelfSignedChanged, "the broker's self-signed token settings changed; reconnect"}
)
