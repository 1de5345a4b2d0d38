package edge

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The SSE wire format (WHATWG HTML, "server-sent events"). A message is
//
//	id: <cursor>
//	event: message            (message-base64 when the payload is not UTF-8)
//	data: <line>              (once per line of the payload)
//
// followed by a blank line. Lines of a payload are split on CR, LF and
// CRLF, the three line ends an SSE parser knows, so a payload can never
// end a field early or inject one; the client gets the lines back joined
// with LF, the one lossy case being a CR or CRLF, which arrives as LF. A
// payload that is not valid UTF-8, or holds a NUL, which some parsers
// stop at, is sent base64-encoded (standard alphabet, padded) as one line.

// maxEventIDLen bounds the Last-Event-ID the edge reads; ids it writes
// are far shorter (about 21 bytes per topic).
const maxEventIDLen = 4096

// appendEventBody appends the event and data lines of a message and the
// blank line that ends it: everything but the id, which differs per
// client.
func appendEventBody(b []byte, payload []byte) []byte {
	if !utf8.Valid(payload) || strings.IndexByte(string(payload), 0) >= 0 {
		b = append(b, "event: message-base64\ndata: "...)
		b = base64.StdEncoding.AppendEncode(b, payload)
		return append(b, "\n\n"...)
	}
	b = append(b, "event: message\n"...)
	return appendData(b, payload)
}

// appendData appends payload as data lines, splitting it on CR, LF and
// CRLF, then the blank line that ends the event.
func appendData(b []byte, payload []byte) []byte {
	for {
		b = append(b, "data: "...)
		i := indexLineEnd(payload)
		if i < 0 {
			b = append(b, payload...)
			return append(b, "\n\n"...)
		}
		b = append(b, payload[:i]...)
		b = append(b, '\n')
		if payload[i] == '\r' && i+1 < len(payload) && payload[i+1] == '\n' {
			i++
		}
		payload = payload[i+1:]
	}
}

func indexLineEnd(p []byte) int {
	for i, c := range p {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// appendControlEvent appends an event of the edge itself (stream-open,
// stream-error) with a JSON data line and, when id is not empty, an id.
func appendControlEvent(b []byte, id []byte, event string, data any) []byte {
	if len(id) > 0 {
		b = append(b, "id: "...)
		b = append(b, id...)
		b = append(b, '\n')
	}
	b = append(b, "event: "...)
	b = append(b, event...)
	js, _ := json.Marshal(data) // JSON escapes CR and LF
	b = append(b, "\ndata: "...)
	b = append(b, js...)
	return append(b, "\n\n"...)
}

// An event id is a cursor over the stream's topic filters:
//
//	<epoch>-<seq>[.<seq>...]
//
// epoch is 16 lower-case hex digits (zero-padded), naming the lifetime of
// the broker's hub on this node, or in a fleet that of the broker's
// journal; seq, in decimal, is for each filter of the request (sorted, as
// subscribeParams lists them) the sequence number of the last message of
// that filter the client has. Sequence numbers come from one counter per
// hub (in a fleet, the journal's), so that a filter whose subscription
// was dropped and made again never reuses one.

// appendEventID appends the id for cursor in epoch.
func appendEventID(b []byte, epoch uint64, cursor []uint64) []byte {
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[epoch>>i&0xF])
	}
	for i, seq := range cursor {
		if i == 0 {
			b = append(b, '-')
		} else {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, seq, 10)
	}
	return b
}

// parseEventID parses an id written by appendEventID for n filters. It
// is lenient about what clients and proxies do to ids (surrounding
// spaces), strict about the rest; ok is false for anything else, which
// the caller treats as a client that was subscribed before, at an
// unknown position.
func parseEventID(s string, n int) (epoch uint64, cursor []uint64, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) > maxEventIDLen || n <= 0 {
		return 0, nil, false
	}
	e, rest, found := strings.Cut(s, "-")
	if !found || len(e) != 16 {
		return 0, nil, false
	}
	epoch, err := strconv.ParseUint(e, 16, 64)
	if err != nil {
		return 0, nil, false
	}
	cursor = make([]uint64, 0, n)
	for part := range strings.SplitSeq(rest, ".") {
		if len(cursor) == n || part == "" || part[0] == '+' {
			return 0, nil, false
		}
		seq, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return 0, nil, false
		}
		cursor = append(cursor, seq)
	}
	if len(cursor) != n {
		return 0, nil, false
	}
	return epoch, cursor, true
}
