package onpublish

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"unicode/utf8"
)

// answer is a hook's parsed response: for each message of the batch, by
// mid, what the hook returned for it.
type answer struct {
	entries []entry // by mid
}

// entry is the hook's answer for one message.
type entry struct {
	state   entryState
	payload []byte // when state is entryChanged
}

type entryState uint8

const (
	entryAbsent  entryState = iota // left out: drop the message
	entryKeep                      // deliver unchanged
	entryChanged                   // deliver payload
	entryBad                       // unusable (topic changed, payload not a string): drop
)

// maxDepth bounds the nesting of arrays and objects in an answer, as
// encoding/json does.
const maxDepth = 10000

// parseAnswer reads a response body: a JSON array of the messages to
// deliver. It walks the body once, by hand (the hot path of every hook
// request: encoding/json's reflection cost more than the rest of the
// request), and is as strict as encoding/json: a body that is not valid
// JSON, not an array, or has an element that is neither an object nor
// null, or a "mid" that is not a number or a "topic" that is not a
// string (null counts as absent), is an error, which fails the batch.
//
// Within an element, keys match exactly (JSON.parse's objects are
// case-sensitive) and the last of a repeated key wins, as in JSON.parse.
// An element whose mid is not one of the batch's, or whose topic differs
// from its message's, is left out, which drops its message, as
// Cloudflare documents; so is one whose payload is not a string (null, a
// number, an object such as a serialized Uint8Array) or, for a message
// sent in base64, not valid base64. The first element for a mid wins.
func parseAnswer(raw []byte, msgs []*Message) (*answer, error) {
	p := parser{b: raw}
	p.ws()
	if !p.more() || raw[p.i] != '[' {
		return nil, errors.New("the response is not a JSON array")
	}
	a := &answer{entries: make([]entry, len(msgs))}
	p.i++
	p.ws()
	if p.more() && raw[p.i] == ']' {
		p.i++
	} else {
		for {
			p.ws()
			if err := p.element(a, msgs); err != nil {
				return nil, err
			}
			p.ws()
			if !p.more() {
				return nil, p.fail("unexpected end of the array")
			}
			if raw[p.i] == ']' {
				p.i++
				break
			}
			if raw[p.i] != ',' {
				return nil, p.fail("expected , or ]")
			}
			p.i++
		}
	}
	p.ws()
	if p.more() {
		return nil, p.fail("data after the array")
	}
	return a, nil
}

// field is the span of one member's value in the body.
type field struct {
	set        bool
	start, end int  // the value, quotes included for a string
	kind       byte // the value's first byte: '"', 'n' (null), a digit or '-', ...
	esc        bool // a string with escapes
}

// element reads one element of the answer and records it.
func (p *parser) element(a *answer, msgs []*Message) error {
	if !p.more() {
		return p.fail("unexpected end of the array")
	}
	switch p.b[p.i] {
	case 'n':
		return p.literal("null")
	case '{':
	default:
		return p.fail("an element of the answer is not an object")
	}
	var mid, topic, payload field
	p.i++
	p.ws()
	if p.more() && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		ks, ke, kesc, err := p.str()
		if err != nil {
			return err
		}
		key := p.b[ks+1 : ke-1]
		if kesc {
			p.scratch = unquote(p.scratch[:0], key)
			key = p.scratch
		}
		p.ws()
		if !p.more() || p.b[p.i] != ':' {
			return p.fail("expected :")
		}
		p.i++
		p.ws()
		var f *field
		switch string(key) {
		case "mid":
			f = &mid
		case "topic":
			f = &topic
		case "payload":
			f = &payload
		}
		start := p.i
		var esc bool
		if f != nil && p.more() && p.b[p.i] == '"' {
			_, _, esc, err = p.str()
		} else {
			err = p.skip(2)
		}
		if err != nil {
			return err
		}
		if f != nil {
			*f = field{set: true, start: start, end: p.i, kind: p.b[start], esc: esc}
		}
		p.ws()
		if !p.more() {
			return p.fail("unexpected end of an object")
		}
		if p.b[p.i] == '}' {
			p.i++
			break
		}
		if p.b[p.i] != ',' {
			return p.fail("expected , or }")
		}
		p.i++
	}
	switch {
	case mid.set && mid.kind != 'n' && mid.kind != '-' && (mid.kind < '0' || mid.kind > '9'):
		return errors.New(`a "mid" is not a number`)
	case topic.set && topic.kind != 'n' && topic.kind != '"':
		return errors.New(`a "topic" is not a string`)
	}
	if !mid.set || mid.kind == 'n' {
		return nil
	}
	n, ok := index(p.b[mid.start:mid.end], len(msgs))
	if !ok || a.entries[n].state != entryAbsent {
		return nil
	}
	a.entries[n] = p.decide(msgs[n], topic, payload)
	return nil
}

// decide is the answer for message m of an element with that topic and
// payload.
func (p *parser) decide(m *Message, topic, payload field) entry {
	if topic.set && topic.kind == '"' {
		t := p.b[topic.start+1 : topic.end-1]
		if topic.esc {
			p.scratch = unquote(p.scratch[:0], t)
			t = p.scratch
		}
		if string(t) != m.Topic {
			return entry{state: entryBad}
		}
	}
	switch {
	case !payload.set:
		return entry{state: entryKeep}
	case payload.kind != '"':
		return entry{state: entryBad}
	}
	s := p.b[payload.start+1 : payload.end-1]
	if m.textual() {
		if !payload.esc && bytes.Equal(s, m.Payload) {
			return entry{state: entryKeep}
		}
		out := unquote(nil, s)
		if bytes.Equal(out, m.Payload) {
			return entry{state: entryKeep}
		}
		return entry{state: entryChanged, payload: out}
	}
	if !payload.esc && len(s) == base64.StdEncoding.EncodedLen(len(m.Payload)) {
		p.scratch = base64.StdEncoding.AppendEncode(p.scratch[:0], m.Payload)
		if bytes.Equal(s, p.scratch) {
			return entry{state: entryKeep}
		}
	}
	if payload.esc {
		s = unquote(nil, s)
	}
	out, err := base64.StdEncoding.AppendDecode(nil, s)
	switch {
	case err != nil:
		return entry{state: entryBad}
	case bytes.Equal(out, m.Payload):
		return entry{state: entryKeep}
	}
	return entry{state: entryChanged, payload: out}
}

// index parses a JSON number as a mid below n: an integer (what
// strconv.ParseInt accepts, so "-0" is 0), not a fraction or exponent.
func index(num []byte, n int) (int, bool) {
	neg := len(num) > 0 && num[0] == '-'
	if neg {
		num = num[1:]
	}
	v := 0
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
		if v >= n {
			return 0, false
		}
	}
	if neg && v != 0 {
		return 0, false
	}
	return v, true
}

// verdict is the answer's verdict on message mid.
func (a *answer) verdict(mid int, m *Message) Result {
	switch e := &a.entries[mid]; e.state {
	case entryKeep:
		return Result{Verdict: Deliver, Payload: m.Payload}
	case entryChanged:
		return Result{Verdict: Deliver, Payload: e.payload, Changed: true}
	}
	return Result{Verdict: Dropped}
}

// parser walks a JSON text, validating it as encoding/json does (RFC
// 8259 with encoding/json's nesting limit; invalid UTF-8 inside strings
// is allowed and decodes to U+FFFD).
type parser struct {
	b       []byte
	i       int
	scratch []byte
}

func (p *parser) more() bool { return p.i < len(p.b) }

func (p *parser) fail(what string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.i, what)
}

// ws skips JSON's whitespace.
func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// literal reads true, false or null.
func (p *parser) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return p.fail("invalid literal")
	}
	p.i += len(lit)
	return nil
}

// str reads a string and returns its span, quotes included, and whether
// it has escapes.
func (p *parser) str() (start, end int, esc bool, err error) {
	start = p.i
	if !p.more() || p.b[p.i] != '"' {
		return 0, 0, false, p.fail("expected a string")
	}
	p.i++
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return start, p.i, esc, nil
		case c == '\\':
			esc = true
			if p.i+1 >= len(p.b) {
				return 0, 0, false, p.fail("unterminated string")
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if len(p.b)-p.i < 6 || hex4(p.b[p.i+2:p.i+6]) < 0 {
					return 0, 0, false, p.fail(`invalid \u escape`)
				}
				p.i += 6
			default:
				return 0, 0, false, p.fail("invalid escape")
			}
		case c < 0x20:
			return 0, 0, false, p.fail("control character in a string")
		default:
			p.i++
		}
	}
	return 0, 0, false, p.fail("unterminated string")
}

// number reads a number.
func (p *parser) number() error {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		p.i = i
		return p.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			p.i = i
			return p.fail("invalid number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			p.i = i
			return p.fail("invalid number")
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	p.i = i
	return nil
}

// skip reads any value at nesting depth (the arrays and objects around
// it).
func (p *parser) skip(depth int) error {
	if !p.more() {
		return p.fail("expected a value")
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, _, _, err := p.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '[' || c == '{':
		if depth >= maxDepth {
			return p.fail("exceeded max depth")
		}
		closing := byte(']')
		if c == '{' {
			closing = '}'
		}
		p.i++
		p.ws()
		if p.more() && p.b[p.i] == closing {
			p.i++
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if _, _, _, err := p.str(); err != nil {
					return err
				}
				p.ws()
				if !p.more() || p.b[p.i] != ':' {
					return p.fail("expected :")
				}
				p.i++
				p.ws()
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			if !p.more() {
				return p.fail("unexpected end")
			}
			if p.b[p.i] == closing {
				p.i++
				return nil
			}
			if p.b[p.i] != ',' {
				return p.fail("expected , or a closing bracket")
			}
			p.i++
		}
	}
	return p.fail("invalid character")
}

// hex4 is the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the contents of a string that str validated, escapes
// decoded, as encoding/json decodes it: a \u escape of a lone surrogate
// and each byte of invalid UTF-8 become U+FFFD.
func unquote(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if r >= 0xD800 && r < 0xDC00 && len(s)-i >= 6 && s[i] == '\\' && s[i+1] == 'u' {
					if r2 := hex4(s[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 6
					}
				}
				dst = utf8.AppendRune(dst, r) // a lone surrogate: U+FFFD
				continue
			default: // " \ /
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}
