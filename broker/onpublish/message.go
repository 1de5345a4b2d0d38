package onpublish

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Message is one published message as the hook sees it.
type Message struct {
	Topic    string
	ClientID string
	// JTI is the publisher's token id; "" for a token without one.
	JTI string
	// ReceivedAt is when the broker received the message, Unix seconds.
	ReceivedAt int64
	// ContentType is the MQTT Content Type; "" is sent as null.
	ContentType string
	// PayloadFormat is MQTT's Payload Format Indicator: 1 for UTF-8.
	PayloadFormat byte
	Payload       []byte
}

// size is what a message adds to a request body, its broker field
// aside, roughly: enough to bound a batch's bytes, and exact enough that
// the body of a batch without escapes is built without growing.
func (m *Message) size() int {
	return 160 + len(m.Topic) + len(m.ClientID) + len(m.JTI) + len(m.ContentType) + (len(m.Payload)+2)/3*4
}

// textual reports whether the payload travels as a JSON string rather
// than base64: a UTF-8 payload that is valid UTF-8. A payload that claims
// UTF-8 and is not travels as base64, with payloadFormatIndicator 0, so
// the receiver never gets a mangled string.
func (m *Message) textual() bool {
	return m.PayloadFormat == 1 && utf8.Valid(m.Payload)
}

// appendJSON appends the message as Cloudflare's PubSubMessage, with its
// fields in Cloudflare's order.
func (m *Message) appendJSON(b []byte, mid int, broker string) []byte {
	b = append(b, `{"mid":`...)
	b = strconv.AppendInt(b, int64(mid), 10)
	b = append(b, `,"broker":`...)
	b = appendString(b, broker)
	b = append(b, `,"topic":`...)
	b = appendString(b, m.Topic)
	b = append(b, `,"clientId":`...)
	b = appendString(b, m.ClientID)
	if m.JTI != "" {
		b = append(b, `,"jti":`...)
		b = appendString(b, m.JTI)
	}
	b = append(b, `,"receivedAt":`...)
	b = strconv.AppendInt(b, m.ReceivedAt, 10)
	b = append(b, `,"contentType":`...)
	if m.ContentType == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, m.ContentType)
	}
	if m.textual() {
		b = append(b, `,"payloadFormatIndicator":1,"payload":`...)
		b = appendString(b, string(m.Payload))
	} else {
		b = append(b, `,"payloadFormatIndicator":0,"payload":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Payload)
		b = append(b, '"')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
