package token

import (
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the JSON reader and writer for headers and claims. They
// exist instead of encoding/json because that package matches object keys
// case-insensitively, takes the last of duplicate keys, and replaces
// invalid UTF-8, each a way for two parsers to read one token differently;
// and because reflection costs allocations on every CONNECT. The reader
// accepts exactly RFC 8259 JSON and reports strings as byte ranges of its
// input, so claims become substrings of one decoded buffer.

// maxDepth bounds the nesting of skipped values; our tokens nest two deep.
const maxDepth = 16

// scanner reads JSON from b. Every method leaves i after what it consumed
// and returns false, with i unspecified, on invalid input.
type scanner struct {
	b []byte
	i int
}

// span is a JSON string's contents as b[start:end], still escaped when esc.
type span struct {
	start, end int
	esc        bool
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips whitespace and returns the next byte without consuming it, or
// 0 at the end of input.
func (s *scanner) next() byte {
	s.skipSpace()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// consume skips whitespace and consumes c if it comes next.
func (s *scanner) consume(c byte) bool {
	if s.next() == c {
		s.i++
		return true
	}
	return false
}

// atEnd reports whether only whitespace remains.
func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.i == len(s.b)
}

// str reads a string, checking escapes and UTF-8.
func (s *scanner) str() (span, bool) {
	if !s.consume('"') {
		return span{}, false
	}
	sp := span{start: s.i}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			sp.end = s.i
			s.i++
			return sp, true
		case c == '\\':
			sp.esc = true
			n, ok := escapeLen(s.b[s.i:])
			if !ok {
				return span{}, false
			}
			s.i += n
		case c < 0x20:
			return span{}, false
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				return span{}, false
			}
			s.i += n
		}
	}
	return span{}, false
}

// escapeLen returns the length of the escape sequence at the start of b,
// which starts with a backslash. A \u escape of a UTF-16 surrogate must be
// half of a pair, because a lone surrogate has no UTF-8 encoding.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, false
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return 0, false
		case r >= 0xD800 && r <= 0xDBFF:
			if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
				return 0, false
			}
			lo, ok := hex4(b[8:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return 0, false
			}
			return 12, true
		}
		return 6, true
	}
	return 0, false
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the decoded contents of a string that str accepted.
// It stops, returning false, once dst would grow past limit bytes.
func unescape(dst, raw []byte, limit int) ([]byte, bool) {
	for i := 0; i < len(raw); {
		if len(dst) >= limit {
			return dst, false
		}
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
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
			r, _ := hex4(raw[i+2:])
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(raw[i+8:])
				r = utf16.DecodeRune(r, lo)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst, len(dst) <= limit
}

// integer reads a JSON number that must be a non-negative integer no
// larger than max: NumericDate values we would have written.
func (s *scanner) integer(max int64) (int64, bool) {
	s.skipSpace()
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
		if n > max {
			return 0, false
		}
	}
	digits := s.i - start
	if digits == 0 || (digits > 1 && s.b[start] == '0') {
		return 0, false
	}
	if s.i < len(s.b) {
		switch s.b[s.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// value skips any JSON value, checking it.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch s.next() {
	case '"':
		_, ok := s.str()
		return ok
	case '{':
		s.i++
		if s.consume('}') {
			return true
		}
		for {
			if _, ok := s.str(); !ok || !s.consume(':') || !s.value(depth+1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume('}')
		}
	case '[':
		s.i++
		if s.consume(']') {
			return true
		}
		for {
			if !s.value(depth + 1) {
				return false
			}
			if s.consume(',') {
				continue
			}
			return s.consume(']')
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number skips a number per the RFC 8259 grammar.
func (s *scanner) number() bool {
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}

// equal reports whether the string sp holds name, unescaping if needed.
func (s *scanner) equal(sp span, name string) bool {
	raw := s.b[sp.start:sp.end]
	if !sp.esc {
		return string(raw) == name
	}
	// Room for name plus one more rune, so unescape never grows buf.
	var buf [16 + utf8.UTFMax]byte
	if len(name) > 16 {
		return false
	}
	k, ok := unescape(buf[:0], raw, len(name))
	return ok && string(k) == name
}
