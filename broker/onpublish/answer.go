package onpublish

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
)

// answer is a hook's parsed response: for each message of the batch, by
// mid, the entry the hook returned, if any.
type answer struct {
	entries []*entry // by mid; nil: left out
}

type entry struct {
	payload []byte
	keep    bool // the payload field was absent: deliver unchanged
	bad     bool // the entry is unusable: drop its message
}

type wireEntry struct {
	Mid     *json.Number    `json:"mid"`
	Topic   *string         `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// parseAnswer reads a response body: a JSON array of the messages to
// deliver. Anything else is an error (the batch fails). An entry whose
// mid is not one of the batch's, or whose topic differs from its
// message's, is left out, which drops its message, as Cloudflare
// documents; so is one whose payload is not a string (or, for a message
// sent in base64, not valid base64). The first entry for a mid wins.
func parseAnswer(raw []byte, msgs []*Message) (*answer, error) {
	raw = bytes.TrimLeft(raw, " \t\r\n") // JSON's whitespace only
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errors.New("the response is not a JSON array")
	}
	var wire []wireEntry
	if err := json.Unmarshal(raw, &wire); err != nil {
		return nil, err
	}
	a := &answer{entries: make([]*entry, len(msgs))}
	for _, w := range wire {
		if w.Mid == nil {
			continue
		}
		mid, err := w.Mid.Int64()
		if err != nil || mid < 0 || mid >= int64(len(msgs)) || a.entries[mid] != nil {
			continue
		}
		m := msgs[mid]
		e := &entry{}
		a.entries[mid] = e
		switch {
		case w.Topic != nil && *w.Topic != m.Topic:
			e.bad = true
		case len(w.Payload) == 0:
			e.keep = true
		default:
			var s string
			if err := json.Unmarshal(w.Payload, &s); err != nil {
				e.bad = true // null, a number, an object (a Uint8Array)
			} else if m.textual() {
				e.payload = []byte(s)
			} else if e.payload, err = base64.StdEncoding.DecodeString(s); err != nil {
				e.bad = true
			}
		}
	}
	return a, nil
}

// verdict is the answer's verdict on message mid.
func (a *answer) verdict(mid int, m *Message) Result {
	e := a.entries[mid]
	switch {
	case e == nil || e.bad:
		return Result{Verdict: Dropped}
	case e.keep || bytes.Equal(e.payload, m.Payload):
		return Result{Verdict: Deliver, Payload: m.Payload}
	}
	return Result{Verdict: Deliver, Payload: e.payload, Changed: true}
}
