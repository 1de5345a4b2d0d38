package edge

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendEventBody(t *testing.T) {
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"Plain", "hello", "event: message\ndata: hello\n\n"},
		{"Empty", "", "event: message\ndata: \n\n"},
		{"LF", "a\nb", "event: message\ndata: a\ndata: b\n\n"},
		{"CR", "a\rb", "event: message\ndata: a\ndata: b\n\n"},
		{"CRLF", "a\r\nb", "event: message\ndata: a\ndata: b\n\n"},
		{"LFCR", "a\n\rb", "event: message\ndata: a\ndata: \ndata: b\n\n"},
		{"Trailing", "a\r\n", "event: message\ndata: a\ndata: \n\n"},
		{"Injection", "x\revent: evil\rid: 1", "event: message\ndata: x\ndata: event: evil\ndata: id: 1\n\n"},
		{"NotUTF8", "\xff", "event: message-base64\ndata: /w==\n\n"},
		{"NUL", "\x00", "event: message-base64\ndata: AA==\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendEventBody(nil, []byte(tc.payload))); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEventID(t *testing.T) {
	// A small epoch is zero-padded, never space-padded (fastly's ids
	// started with spaces for about one generation in sixteen).
	if got := string(appendEventID(nil, 0xabc, []uint64{3, 0, 18446744073709551615})); got != "0000000000000abc-3.0.18446744073709551615" {
		t.Fatalf("id %q", got)
	}
	for _, tc := range []struct {
		name string
		id   string
		n    int
		ok   bool
	}{
		{"OK", "0000000000000abc-3", 1, true},
		{"Spaces", "  0000000000000abc-3 ", 1, true},
		{"Two", "0000000000000abc-3.4", 2, true},
		{"Upper", "0000000000000ABC-3", 1, true},
		{"WrongCount", "0000000000000abc-3.4", 1, false},
		{"TooFew", "0000000000000abc-3", 2, false},
		{"SpacePadded", "         abc-3", 1, false},
		{"ShortEpoch", "abc-3", 1, false},
		{"NoSeq", "0000000000000abc-", 1, false},
		{"NoDash", "0000000000000abc", 1, false},
		{"Sign", "0000000000000abc-+3", 1, false},
		{"Negative", "0000000000000abc--3", 1, false},
		{"Overflow", "0000000000000abc-18446744073709551616", 1, false},
		{"Empty", "", 1, false},
		{"FastlyStyle", "topic:d06fe8f6d007c421-8", 1, false},
		{"TooLong", "0000000000000abc-" + strings.Repeat("1.", 3000) + "1", 3001, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epoch, cursor, ok := parseEventID(tc.id, tc.n)
			if ok != tc.ok {
				t.Fatalf("parseEventID(%q, %d) ok = %v, want %v", tc.id, tc.n, ok, tc.ok)
			}
			if ok && (epoch != 0xabc || cursor[0] != 3) {
				t.Fatalf("parsed %x %v", epoch, cursor)
			}
		})
	}
}

// FuzzParseEventID checks that the Last-Event-ID parser never panics and
// that whatever it accepts is written back the same way it writes ids.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"0000000000000abc-3", "ffffffffffffffff-1.2.3", " 0123456789abcdef-0 ", "x", "-", "0000000000000000-.", "topic:abc-1"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 64
		epoch, cursor, ok := parseEventID(s, n)
		if !ok {
			return
		}
		if len(cursor) != n {
			t.Fatalf("accepted %d seqs for %d filters", len(cursor), n)
		}
		again := string(appendEventID(nil, epoch, cursor))
		e2, c2, ok2 := parseEventID(again, n)
		if !ok2 || e2 != epoch || len(c2) != n {
			t.Fatalf("%q parses to %x %v, whose id %q does not parse back", s, epoch, cursor, again)
		}
	})
}

// FuzzEventBody checks that no payload can break SSE framing: the body
// is one event, with no CR, no blank line before its end, and the data
// lines give the payload back (line ends normalised to LF) or base64.
func FuzzEventBody(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r\r\n\n", "\xff", "event: x\n\nid: 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		body := string(appendEventBody(nil, p))
		if strings.Contains(body, "\r") {
			t.Fatalf("CR in %q", body)
		}
		if !strings.HasSuffix(body, "\n\n") {
			t.Fatalf("event %q does not end with a blank line", body)
		}
		lines := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n")
		for _, l := range lines {
			if l == "" {
				t.Fatalf("blank line inside %q", body)
			}
		}
		if lines[0] == "event: message" {
			var data []string
			for _, l := range lines[1:] {
				data = append(data, strings.TrimPrefix(l, "data: "))
			}
			want := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(p))
			if got := strings.Join(data, "\n"); got != want || !utf8.ValidString(got) {
				t.Fatalf("data %q, want %q", got, want)
			}
		}
	})
}
