package load

import (
	"bufio"
	"strings"
	"testing"
)

func TestNextEvent(t *testing.T) {
	stream := "id: 0001-1\nevent: stream-open\ndata: {\"topics\":[\"a\"]}\n\n" +
		": a comment\n\n" +
		"id: 0001-2\r\nevent: message\r\ndata: line one\r\ndata: line two\r\n\r\n" +
		"event: message-base64\ndata:AAEC\n\n"
	r := bufio.NewReader(strings.NewReader(stream))
	tests := []struct{ ev, data string }{
		{"stream-open", `{"topics":["a"]}`},
		{"message", "line one\nline two"},
		{"message-base64", "AAEC"},
	}
	for _, tc := range tests {
		ev, data, err := nextEvent(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ev != tc.ev || string(data) != tc.data {
			t.Errorf("got %q %q, want %q %q", ev, data, tc.ev, tc.data)
		}
	}
	if _, _, err := nextEvent(r, nil); err == nil {
		t.Error("an event after the end of the stream")
	}
}
