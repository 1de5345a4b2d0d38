package node

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/openpubsub/pubsub/broker"
)

// The refusals only MQTT has; broker/refusal.go has the others.
var (
	refClientID        = &broker.Refusal{Reason: "client_id", Message: "client identifier is longer than 256 bytes"}
	refWillTopic       = &broker.Refusal{Reason: "will_topic", Message: "the token does not allow publishing to the will topic"}
	refWillLevels      = &broker.Refusal{Reason: "will_topic_levels", Message: "the will topic has more levels than this server allows"}
	refUnknownAudience = &broker.Refusal{Reason: "audience", Message: "the token's audience is not a broker of this node"}
	refVersion         = &broker.Refusal{Reason: "protocol_version", Message: "MQTT v5 is required"}
	refTooLarge        = &broker.Refusal{Reason: "packet_too_large", Message: "packet too large"}
	refRate            = &broker.Refusal{Reason: "message_rate", Message: "message rate too high"}
	refPasswordLen     = &broker.Refusal{Reason: broker.ReasonTokenTooLong, Message: "the password is longer than 4096 bytes"}
)

// mqttCodes is how MQTT v5 says each reason: the CONNACK reason code that
// refuses a connection for it, the DISCONNECT reason code that ends a
// session for it, and whether such a session still publishes its will. A
// session ended for its credentials does not: the will would be a
// message sent on the authority of a token that no longer has any.
// Protocol violations and shutdown keep it, as MQTT specifies. This table
// is the one place where a reason becomes an MQTT reason code.
var mqttCodes = map[broker.Reason]struct {
	connack, disconnect byte
	keepWill            bool
}{
	// pkg/token's reasons: 0x86 Bad User Name or Password at CONNECT; a
	// token that expires while connected is 0xA0 Maximum connect time.
	"malformed":     {0x86, 0x86, false},
	"algorithm":     {0x86, 0x86, false},
	"unknown_key":   {0x86, 0x87, false},
	"signature":     {0x86, 0x86, false},
	"claims":        {0x86, 0x86, false},
	"audience":      {0x86, 0x86, false},
	"expired":       {0x86, 0xA0, false},
	"not_yet_valid": {0x86, 0x86, false},

	broker.ReasonNoToken:      {0x86, 0x86, false},
	broker.ReasonTokenTooLong: {0x86, 0x86, false},
	// 0x87 Not authorized.
	broker.ReasonRevoked:    {0x87, 0x87, false},
	broker.ReasonKeyRemoved: {0x86, 0x87, false},
	// 0x98 Administrative action: the broker's expiration was lowered, or
	// the broker deleted; at CONNECT the token is simply too old.
	broker.ReasonTooOld:  {0x86, 0x98, false},
	broker.ReasonDeleted: {0x88, 0x98, false},
	// The broker's fastly_wildcards changed what a self-signed token allows.
	broker.ReasonSelfSignedChanged: {0x87, 0x98, false},
	broker.ReasonUnavailable:       {0x88, 0x88, false},

	"client_id":           {0x85, 0x85, false},
	"will_topic":          {0x90, 0x90, false},
	"will_topic_levels":   {0x90, 0x90, false},
	"protocol_version":    {0x84, 0x84, false},
	"packet_too_large":    {0x95, 0x95, true},
	"message_rate":        {0x96, 0x96, true},
	broker.ReasonShutdown: {0x88, 0x8B, true},
}

// connackCode returns the CONNACK reason code of r.
func connackCode(r *broker.Refusal) packets.Code {
	code := byte(0x80) // Unspecified error, for a reason missing above
	if c, ok := mqttCodes[r.Reason]; ok {
		code = c.connack
	}
	return packets.Code{Code: code, Reason: r.Message}
}

// disconnectCode returns the DISCONNECT reason code of r, and whether
// the will is still published.
func disconnectCode(r *broker.Refusal) (packets.Code, bool) {
	c, ok := mqttCodes[r.Reason]
	if !ok {
		return packets.Code{Code: 0x80, Reason: r.Message}, true
	}
	return packets.Code{Code: c.disconnect, Reason: r.Message}, c.keepWill
}
