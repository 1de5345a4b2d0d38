package http

import (
	"encoding/base64"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/openpubsub/pubsub/broker/onpublish"
	"github.com/openpubsub/pubsub/controlplane"
)

// hookTestJSON is the result of a hook test: the request's status and
// latency, and what the hook's answer would do to each sample message.
type hookTestJSON struct {
	URL       string            `json:"url"`
	Status    int               `json:"status"`
	LatencyMS float64           `json:"latency_ms"`
	Outcome   string            `json:"outcome"`
	Messages  []hookTestMessage `json:"messages"`
}

type hookTestMessage struct {
	Mid     int    `json:"mid"`
	Topic   string `json:"topic"`
	Sent    string `json:"sent"`
	Result  string `json:"result"`            // delivered, changed or dropped; "" when the request failed
	Payload string `json:"payload,omitempty"` // what subscribers would get (base64 when not UTF-8)
}

// hookTestSample is the batch a hook test sends: a UTF-8 message, a JSON
// one and a binary one.
func hookTestSample(now int64) []*onpublish.Message {
	return []*onpublish.Message{
		{Topic: "hook-test/text", ClientID: "pubsub-hook-test", ReceivedAt: now, PayloadFormat: 1, Payload: []byte("hello from pubsub broker hook-test")},
		{Topic: "hook-test/json", ClientID: "pubsub-hook-test", ReceivedAt: now, PayloadFormat: 1, ContentType: "application/json", Payload: []byte(`{"temperature":21.5}`)},
		{Topic: "hook-test/binary", ClientID: "pubsub-hook-test", ReceivedAt: now, Payload: []byte{0, 1, 2, 0xfe, 0xff}},
	}
}

// handleHookTest sends a signed sample batch to the broker's on-publish
// hook, as a node would, and shows the answer's effect. It answers 400
// when the broker has no hook or its URL is not one a node would call.
func (s *Server) handleHookTest(w http.ResponseWriter, r *http.Request) {
	b, err := s.svc.FindBroker(r.Context(), account(r).ID, chi.URLParam(r, "namespace"), chi.URLParam(r, "broker"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.OnPublishURL == "" {
		s.writeError(w, r, errorf(controlplane.EINVALID, "broker %q has no on_publish.url to test", b.Name))
		return
	}
	host, kid, key := s.svc.HookSigner(b)
	cfg := onpublish.Config{URL: b.OnPublishURL, Broker: host, KeyID: kid, Key: key, AllowHTTP: s.hookAllowHTTP.Load(),
		Timeout: time.Duration(b.OnPublish.Timeout) * time.Second}
	msgs := hookTestSample(time.Now().Unix())
	p, err := onpublish.Try(r.Context(), cfg, msgs)
	if err != nil {
		s.writeError(w, r, errorf(controlplane.EINVALID, "on_publish.url: %v", err))
		return
	}
	out := hookTestJSON{URL: b.OnPublishURL, Status: p.Status, LatencyMS: float64(p.Latency.Microseconds()) / 1000, Outcome: p.Outcome.String(), Messages: []hookTestMessage{}}
	for i, m := range msgs {
		hm := hookTestMessage{Mid: i, Topic: m.Topic, Sent: printable(m.Payload)}
		if p.Outcome == onpublish.OutcomeOK {
			switch res := p.Results[i]; {
			case res.Verdict == onpublish.Dropped:
				hm.Result = "dropped"
			case res.Changed:
				hm.Result, hm.Payload = "changed", printable(res.Payload)
			default:
				hm.Result, hm.Payload = "delivered", printable(res.Payload)
			}
		}
		out.Messages = append(out.Messages, hm)
	}
	writeOK(w, out)
}

// printable shows a payload as text when it is UTF-8, else base64.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}
