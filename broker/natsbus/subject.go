package natsbus

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects. A broker's messages travel on subjects under its root,
// <prefix>.<broker id>, with one NATS token per MQTT topic level:
//
//	topic  sensors/kitchen/temp   →  pubsub.<id>.sensors.kitchen.temp
//	filter sensors/+/temp         →  pubsub.<id>.sensors.*.temp
//	filter sensors/#              →  pubsub.<id>.sensors and pubsub.<id>.sensors.>
//
// A level is kept as it is when it holds only ASCII letters, digits, '-'
// and '_'. Any other byte (the '.' that separates NATS tokens, the
// wildcards '*' and '>', spaces, '=', non-ASCII) becomes "=XX", its
// value in upper-case hexadecimal, and an empty level becomes "=". A
// token is therefore never a wildcard nor empty, and since '=' never
// stands for itself, two different topics never share a subject and the
// topic can be read back from the subject. Tokens are also valid
// JetStream key-value keys, which allow '=' but not '~' or '%'. Only a
// filter's '+' and '#' levels become '*' and '>'. The broker id, never
// the broker's name, is the second token, so that nothing crosses
// between brokers.

// MaxSubjectLen is the longest subject the bus sends or subscribes to.
// A NATS server reads a protocol line of at most 4,096 bytes by default
// (max_control_line); the subject shares it with the verb and sizes.
const MaxSubjectLen = 4000

// ErrSubjectTooLong is returned for a topic or filter whose subject
// would exceed MaxSubjectLen: its messages stay on the node.
var ErrSubjectTooLong = errors.New("natsbus: the topic's NATS subject would exceed 4000 bytes")

const hexDigits = "0123456789ABCDEF"

// plain reports whether c stands for itself in a token.
func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// appendToken appends the token of one level.
func appendToken(b []byte, level string) []byte {
	if level == "" {
		return append(b, '=')
	}
	for i := 0; i < len(level); i++ {
		if c := level[i]; plain(c) {
			b = append(b, c)
		} else {
			b = append(b, '=', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return b
}

// Root returns the subject root of a broker's messages: prefix, then the
// broker id as one token.
func Root(prefix, brokerID string) string {
	return string(appendToken(append([]byte(prefix), '.'), brokerID))
}

// TopicSubject returns the subject a message published to topic travels
// on, under root. Every topic has one, unless it is too long.
func TopicSubject(root, topic string) (string, error) {
	b := make([]byte, 0, len(root)+1+len(topic)+8)
	b = append(b, root...)
	for {
		level, rest, more := strings.Cut(topic, "/")
		b = appendToken(append(b, '.'), level)
		if len(b) > MaxSubjectLen {
			return "", ErrSubjectTooLong
		}
		if !more {
			return string(b), nil
		}
		topic = rest
	}
}

// FilterSubjects returns the subjects to subscribe to, under root, to
// receive the messages of every topic filter matches: one, or two for a
// filter ending in "#", which matches its parent level too ("a/#"
// matches "a"). filter must be a valid MQTT topic filter, without a
// $share prefix.
func FilterSubjects(root, filter string) ([]string, error) {
	b := make([]byte, 0, len(root)+1+len(filter)+8)
	b = append(b, root...)
	for {
		level, rest, more := strings.Cut(filter, "/")
		switch {
		case level == "#" && !more:
			parent := string(b)
			if parent == root {
				// "#" matches every topic, each at least one level long.
				return []string{root + ".>"}, nil
			}
			return []string{parent, parent + ".>"}, nil
		case level == "+":
			b = append(b, '.', '*')
		case strings.ContainsAny(level, "+#"):
			return nil, fmt.Errorf("natsbus: invalid topic filter %q", filter)
		default:
			b = appendToken(append(b, '.'), level)
		}
		if len(b)+2 > MaxSubjectLen {
			return nil, ErrSubjectTooLong
		}
		if !more {
			return []string{string(b)}, nil
		}
		filter = rest
	}
}

// TopicOf reads back the topic of a subject under root.
func TopicOf(root, subject string) (string, error) {
	if len(subject) <= len(root)+1 || subject[:len(root)] != root || subject[len(root)] != '.' {
		return "", fmt.Errorf("natsbus: subject %q is not under %q", subject, root)
	}
	return decodeTokens(subject[len(root)+1:])
}

// decodeTokens turns the tokens of a subject back into topic levels.
func decodeTokens(s string) (string, error) {
	b := make([]byte, 0, len(s))
	for {
		tok, rest, more := strings.Cut(s, ".")
		var err error
		if b, err = appendLevel(b, tok); err != nil {
			return "", err
		}
		if !more {
			return string(b), nil
		}
		b = append(b, '/')
		s = rest
	}
}

// appendLevel appends the level of one token.
func appendLevel(b []byte, tok string) ([]byte, error) {
	if tok == "=" {
		return b, nil
	}
	if tok == "" {
		return nil, errors.New("natsbus: empty subject token")
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case plain(c):
			b = append(b, c)
		case c == '=' && i+2 < len(tok) && unhex(tok[i+1]) >= 0 && unhex(tok[i+2]) >= 0:
			v := byte(unhex(tok[i+1])<<4 | unhex(tok[i+2]))
			if plain(v) {
				return nil, fmt.Errorf("natsbus: %q escapes a plain byte", tok)
			}
			b = append(b, v)
			i += 2
		default:
			return nil, fmt.Errorf("natsbus: invalid subject token %q", tok)
		}
	}
	return b, nil
}

// unhex is the value of an upper-case hexadecimal digit, or -1.
func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// EncodeToken returns s as one subject token, escaped as a topic level
// is; queue group names are made this way.
func EncodeToken(s string) string { return string(appendToken(nil, s)) }

// DecodeToken reads back a token EncodeToken made.
func DecodeToken(tok string) (string, error) {
	b, err := appendLevel(nil, tok)
	return string(b), err
}
