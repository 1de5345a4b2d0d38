// Package feed is the wire format of the config feed that the control plane
// pushes to broker nodes: a snapshot of every broker, then each change in
// revision order, as newline-delimited JSON over one long-lived HTTP
// response. Both sides import it; nothing else lives here.
package feed

import "time"

// Path is the feed's HTTP path on the control plane. A node sends
// GET Path?after=<revision> with Authorization: Bearer <node token>.
const Path = "/node/v1/feed"

// SigningKeysPath is where a node forwards a client's `POST /admin/keys`
// (with its node token): the control plane creates a key of self-signed
// tokens if the client's account credentials own the broker.
const SigningKeysPath = "/node/v1/signingkeys"

// ContentType is the media type of the stream: one Event per line.
const ContentType = "application/x-ndjson"

// PingInterval is how often the control plane sends a ping on an idle
// stream; a node that hears nothing for 3 intervals reconnects.
const PingInterval = 10 * time.Second

// Event types.
const (
	// TypeSnapshot replaces the node's whole state with Brokers. It is the
	// first event when the node asks from revision 0, or from a revision
	// older than the feed still holds.
	TypeSnapshot = "snapshot"
	// TypeBroker creates or replaces one broker's whole state.
	TypeBroker = "broker"
	// TypeBrokerDeleted removes a broker; its sessions end.
	TypeBrokerDeleted = "broker_deleted"
	// TypeRevoked adds one revocation to a broker.
	TypeRevoked = "revoked"
	// TypeUnrevoked removes one revocation from a broker.
	TypeUnrevoked = "unrevoked"
	// TypePing keeps an idle stream alive; it carries the current revision.
	TypePing = "ping"
	// TypeTicketKeys replaces the fleet's TLS session ticket keys with
	// TicketKeys. A snapshot carries them too.
	TypeTicketKeys = "ticket_keys"
)

// Event is one line of the feed. Revision is the change's revision; a node
// that has applied it resumes with after=Revision.
type Event struct {
	Type       string      `json:"type"`
	Revision   int64       `json:"revision"`
	Brokers    []Broker    `json:"brokers,omitempty"`    // snapshot
	Broker     *Broker     `json:"broker,omitempty"`     // broker
	BrokerID   string      `json:"broker_id,omitempty"`  // broker_deleted, revoked, unrevoked
	Revocation *Revocation `json:"revocation,omitempty"` // revoked, unrevoked (JTI only)
	// TicketKeys are the TLS session ticket keys every node of the fleet
	// shares, so that a client resumes its TLS session on any node: newest
	// first, the first encrypts new tickets and every one decrypts. Each
	// Secret is 32 bytes, sealed like the HMAC keys'. Empty in a snapshot
	// from a control plane that has none: nodes then keep their own keys.
	TicketKeys []HMACKey `json:"ticket_keys,omitempty"` // snapshot, ticket_keys
}

// MaxTicketKeys bounds the ticket keys of one event: the control plane
// keeps one per rotation interval of the ticket lifetime, plus one.
const MaxTicketKeys = 64

// TicketKeySize is the length of a TLS session ticket key's secret.
const TicketKeySize = 32

// Broker is everything a node needs to serve one broker.
type Broker struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Hostname is <name>.<namespace>.<domain>: the TLS SNI name and the
	// aud claim of the broker's tokens.
	Hostname string `json:"hostname"`
	// Expiration caps the age of any token in seconds (now - iat); 0: none.
	Expiration   int64        `json:"expiration,omitempty"`
	OnPublishURL string       `json:"on_publish_url,omitempty"`
	Keys         []Key        `json:"keys"`
	Revocations  []Revocation `json:"revocations"`

	// SelfSignedTokens enables self-signed (fastly-style HS256) tokens
	// signed with HMACKeys; the control plane sends HMACKeys only then.
	SelfSignedTokens bool `json:"self_signed_tokens,omitempty"`
	// FastlyWildcards reads x-fastly-read and x-fastly-write as MQTT topic
	// filters rather than exact topic names.
	FastlyWildcards bool `json:"fastly_wildcards,omitempty"`
	// SelfSignedLeeway is the clock tolerance on self-signed tokens' exp,
	// nbf and iat, in seconds; 0 means fastly's 900.
	SelfSignedLeeway int64     `json:"self_signed_leeway,omitempty"`
	HMACKeys         []HMACKey `json:"hmac_keys,omitempty"`

	// HookKey signs the broker's on-publish hook requests: its Secret is
	// the 32-byte Ed25519 seed, sealed like the HMAC keys' secrets. The
	// control plane sends it only when OnPublishURL is set; the public
	// half is in the broker's JWKS, never in Keys (it verifies no token).
	HookKey *HMACKey `json:"hook_key,omitempty"`
	// OnPublish are the hook's optional settings; nil for the defaults.
	OnPublish *OnPublish `json:"on_publish,omitempty"`
}

// OnPublish are a broker's on-publish hook settings beyond its URL.
type OnPublish struct {
	Filters   []string `json:"filters,omitempty"`
	Timeout   int64    `json:"timeout,omitempty"`    // seconds; 0: 10
	OnFailure string   `json:"on_failure,omitempty"` // drop (""), pass or retry
	Mode      string   `json:"mode,omitempty"`       // transform ("") or notify
}

// HMACKey is a shared signing key of self-signed tokens (or, as a
// Broker's HookKey, the hook signing key's seed; in an Event's TicketKeys,
// a TLS session ticket key). Its secret never
// travels nor rests in the clear: Sealed is the secret encrypted for the
// node the event is sent to (see SecretBox). Secret is the plaintext,
// which only the control plane (before sealing) and the node (after
// opening) hold in memory.
type HMACKey struct {
	ID     string `json:"kid"`
	Sealed string `json:"sealed"` // base64url of SecretBox.Seal's output
	Secret []byte `json:"-"`
}

// Key is a public verification key of a broker.
type Key struct {
	ID    string `json:"kid"`
	X     string `json:"x"`     // the Ed25519 public key, base64url without padding
	State string `json:"state"` // current, next or retired
}

// Revocation is one revoked token. ExpiresAt (Unix seconds, 0 for none)
// lets a node forget the entry once the token is dead anyway.
type Revocation struct {
	JTI       string `json:"jti"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}
