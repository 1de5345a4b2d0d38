package onpublish

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzAnswer feeds parseAnswer arbitrary response bodies: it never
// panics, it accepts only valid JSON, and it agrees with referenceAnswer,
// the same rules written with encoding/json.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{`[]`, `[{"mid":0,"topic":"t","payload":"x"}]`, `[{"mid":1}]`, `null`, `[{"mid":"0"}]`,
		`[{"mid":0,"payload":{"0":1}}]`, `[{"mid":1.5}]`, `[{"mid":-1}]`, `[{"mid":0,"payload":"!!"}]`, ` [ ] `,
		`[{"m\u0069d":1,"payload":"AQ=="},null]`, `[{"mid":0,"payload":"\ud83d\ude00\ud800"},{"mid":1,"payload":"AQ\u003d="}]`,
		`[{"mid":0,"mid":null,"topic":"x","topic":null}]`, `[{"mid":-0,"payload":"p","payload":null}]`, `[{"mid":1e0}]`,
		"[{\"mid\":0,\"payload\":\"\xff\xfe\"}]", `[{"mid":0,"x":[1,{"y":[true,false,null,-1.5e+3]}]}] `, `[1]`, `[{"mid":0}]x`} {
		f.Add([]byte(seed))
	}
	msgs := []*Message{text("t", "p"), {Topic: "b", Payload: []byte{1}}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a, err := parseAnswer(raw, msgs)
		want, wantErr := referenceAnswer(raw, msgs)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, reference error %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
		for i, m := range msgs {
			got := a.verdict(i, m)
			if got.Verdict != want[i].Verdict || !bytes.Equal(got.Payload, want[i].Payload) || got.Changed != want[i].Changed {
				t.Fatalf("%q: message %d: %+v, reference %+v", raw, i, got, want[i])
			}
		}
	})
}

// referenceAnswer is parseAnswer's rules written with encoding/json, for
// FuzzAnswer: the verdict on each message.
func referenceAnswer(raw []byte, msgs []*Message) ([]Result, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return nil, errors.New("not an array")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	out := make([]Result, len(msgs))
	seen := make([]bool, len(msgs))
	for _, el := range elems {
		if string(el) == "null" {
			continue
		}
		var obj map[string]json.RawMessage // exact keys, the last one wins
		if err := json.Unmarshal(el, &obj); err != nil {
			return nil, err
		}
		mid, hasMid := obj["mid"]
		topic, hasTopic := obj["topic"]
		payload, hasPayload := obj["payload"]
		if hasMid && string(mid) != "null" && mid[0] != '-' && (mid[0] < '0' || mid[0] > '9') {
			return nil, errors.New("mid")
		}
		if hasTopic && string(topic) != "null" && topic[0] != '"' {
			return nil, errors.New("topic")
		}
		if !hasMid || string(mid) == "null" {
			continue
		}
		n, err := strconv.ParseInt(string(mid), 10, 64)
		if err != nil || n < 0 || n >= int64(len(msgs)) || seen[n] {
			continue
		}
		seen[n] = true
		m := msgs[n]
		var s string
		if hasTopic && string(topic) != "null" {
			_ = json.Unmarshal(topic, &s)
			if s != m.Topic {
				out[n] = Result{Verdict: Dropped}
				continue
			}
		}
		if !hasPayload {
			out[n] = Result{Verdict: Deliver, Payload: m.Payload}
			continue
		}
		if payload[0] != '"' {
			out[n] = Result{Verdict: Dropped}
			continue
		}
		_ = json.Unmarshal(payload, &s)
		p := []byte(s)
		if !m.textual() {
			if p, err = base64.StdEncoding.DecodeString(s); err != nil {
				out[n] = Result{Verdict: Dropped}
				continue
			}
		}
		if bytes.Equal(p, m.Payload) {
			out[n] = Result{Verdict: Deliver, Payload: m.Payload}
		} else {
			out[n] = Result{Verdict: Deliver, Payload: p, Changed: true}
		}
	}
	for i := range out {
		if !seen[i] {
			out[i] = Result{Verdict: Dropped}
		}
	}
	return out, nil
}

// TestAnswerDepth checks that parseAnswer takes the nesting
// encoding/json takes and refuses one level more.
func TestAnswerDepth(t *testing.T) {
	msgs := []*Message{text("t", "p")}
	for _, c := range []struct {
		name  string
		depth int // arrays and objects, the answer's own included
		ok    bool
	}{{"OK", 10000, true}, {"ErrTooDeep", 10001, false}} {
		t.Run(c.name, func(t *testing.T) {
			inner := c.depth - 2
			raw := `[{"mid":0,"x":` + strings.Repeat("[", inner) + strings.Repeat("]", inner) + `}]`
			_, err := parseAnswer([]byte(raw), msgs)
			if (err == nil) != c.ok || json.Valid([]byte(raw)) != c.ok {
				t.Fatalf("parseAnswer error %v, json.Valid %v, want ok %v", err, json.Valid([]byte(raw)), c.ok)
			}
		})
	}
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
