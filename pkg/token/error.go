package token

// Reason classifies why Verify, Parse or PeekAudience refused a token. The
// values are stable and suit metrics labels and logs.
type Reason string

// The reasons a token can be refused. The broker answers all of them with
// CONNACK 0x86 (Bad User Name or Password); they exist to tell operators
// and clients which check failed.
const (
	ReasonMalformed   Reason = "malformed"     // not a compact JWS we could produce
	ReasonAlgorithm   Reason = "algorithm"     // alg is missing or not EdDSA
	ReasonUnknownKey  Reason = "unknown_key"   // kid is missing or not in the key set
	ReasonSignature   Reason = "signature"     // the Ed25519 signature does not verify
	ReasonClaims      Reason = "claims"        // claims are not valid JSON, have wrong types, or lack sub, jti, iat or topicAcl
	ReasonAudience    Reason = "audience"      // aud is missing or names another broker
	ReasonExpired     Reason = "expired"       // exp is past, beyond the leeway
	ReasonNotYetValid Reason = "not_yet_valid" // iat or nbf is in the future, beyond the leeway
)

// Error is the error Verify, Parse and PeekAudience return. Message never
// contains token contents, so it is safe to send to the client as an MQTT
// reason string. Errors are shared values: do not modify them.
type Error struct {
	Reason  Reason
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// The refusals, allocated once: a flood of bad tokens costs no garbage.
var (
	errTooLarge    = &Error{ReasonMalformed, "token is larger than 8192 bytes"}
	errSegments    = &Error{ReasonMalformed, "token must have three dot-separated segments"}
	errBase64      = &Error{ReasonMalformed, "token segment is not unpadded base64url"}
	errHeader      = &Error{ReasonMalformed, "token header is not a valid JSON object"}
	errCrit        = &Error{ReasonMalformed, "token header has critical extensions, which are not supported"}
	errSigLength   = &Error{ReasonMalformed, "token signature is not 64 bytes"}
	errAlgorithm   = &Error{ReasonAlgorithm, "token algorithm must be EdDSA"}
	errNoKID       = &Error{ReasonUnknownKey, "token header has no key id"}
	errUnknownKID  = &Error{ReasonUnknownKey, "token key id is not a key of this broker"}
	errSignature   = &Error{ReasonSignature, "token signature is invalid"}
	errClaimsJSON  = &Error{ReasonClaims, "token claims are not a valid JSON object"}
	errClaimsDup   = &Error{ReasonClaims, "token claims repeat a claim"}
	errSub         = &Error{ReasonClaims, "token claim sub must be a non-empty string"}
	errJTI         = &Error{ReasonClaims, "token claim jti must be a non-empty string"}
	errIAT         = &Error{ReasonClaims, "token claim iat must be a non-negative integer number of seconds"}
	errEXP         = &Error{ReasonClaims, "token claim exp must be a non-negative integer number of seconds"}
	errNBF         = &Error{ReasonClaims, "token claim nbf must be a non-negative integer number of seconds"}
	errACLType     = &Error{ReasonClaims, "token claims topicAcl, publishAcl and subscribeAcl must be arrays of strings"}
	errACLMissing  = &Error{ReasonClaims, "token claim topicAcl is missing"}
	errACLFilter   = &Error{ReasonClaims, "token ACL holds an invalid topic filter"}
	errAudType     = &Error{ReasonAudience, "token claim aud must be a string or an array of one string"}
	errAudMissing  = &Error{ReasonAudience, "token has no audience"}
	errAudience    = &Error{ReasonAudience, "token audience is not this broker"}
	errExpired     = &Error{ReasonExpired, "token has expired"}
	errNotYetValid = &Error{ReasonNotYetValid, "token is not valid yet"}
)
