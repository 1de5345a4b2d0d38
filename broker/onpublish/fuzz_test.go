package onpublish

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzAnswer feeds parseAnswer arbitrary response bodies: it never
// panics, and an answer it accepts gives a verdict for every message.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{`[]`, `[{"mid":0,"topic":"t","payload":"x"}]`, `[{"mid":1}]`, `null`, `[{"mid":"0"}]`,
		`[{"mid":0,"payload":{"0":1}}]`, `[{"mid":1.5}]`, `[{"mid":-1}]`, `[{"mid":0,"payload":"!!"}]`, ` [ ] `} {
		f.Add([]byte(seed))
	}
	msgs := []*Message{text("t", "p"), {Topic: "b", Payload: []byte{1}}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := parseAnswer(raw, msgs)
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		for i, m := range msgs {
			_ = a.verdict(i, m)
		}
	})
}

// FuzzEncode checks that every message encodes as valid JSON that
// decodes to its topic and payload.
func FuzzEncode(f *testing.F) {
	f.Add("a/b", "c1", []byte("hello"), byte(1))
	f.Add("a/\"\\\n\x00", "\xff", []byte{0xff, 0}, byte(1))
	f.Add("t", "", []byte{}, byte(0))
	f.Fuzz(func(t *testing.T, topic, client string, payload []byte, pfi byte) {
		m := &Message{Topic: topic, ClientID: client, Payload: payload, PayloadFormat: pfi}
		body := encodeBatch([]*Message{m}, "b.example")
		var out []wireMsg
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("invalid JSON %q: %v", body, err)
		}
		a, err := parseAnswer(body, []*Message{m})
		if err != nil {
			t.Fatal(err)
		}
		r := a.verdict(0, m)
		if utf8.ValidString(topic) && r.Verdict != Deliver { // MQTT topics are UTF-8
			t.Fatalf("echoing the request drops the message: %+v (%q)", r, body)
		}
	})
}
