package node_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/token"
)

// retainedAnswer is GET /retained's envelope.
type retainedAnswer struct {
	Result struct {
		Messages []struct {
			Topic       string  `json:"topic"`
			Payload     []byte  `json:"payload"`
			Bytes       int     `json:"bytes"`
			ContentType string  `json:"content_type"`
			ExpiresAt   *string `json:"expires_at"`
		} `json:"messages"`
		Truncated bool `json:"truncated"`
	} `json:"result"`
	Errors []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// TestEdgeRetainedList lists retained messages over HTTPS with their
// topics, for a token allowed to subscribe to the filters, and sees a
// deleted one go.
func TestEdgeRetainedList(t *testing.T) {
	e := newEnv(t, node.Limits{}, "b1")
	tok, _ := e.brokers["b1"].token(t, nil)
	e.publishHTTP("b1", tok, "topic=r/2&retain=true", "two")
	e.publishHTTP("b1", tok, "topic=r/1&retain=true&ttl=3600", `{"n":1}`)
	e.publishHTTP("b1", tok, "topic=other&retain=true", "x")
	e.publishHTTP("b1", tok, "topic=r/3", "not retained")

	list := func(query, tok string) (int, retainedAnswer) {
		t.Helper()
		status, _, body := e.request("GET", "b1", "/retained?"+query, tok, "", nil)
		var a retainedAnswer
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			t.Fatalf("%d %s: %v", status, body, err)
		}
		return status, a
	}
	status, a := list("topic=r/%23&topic=r/1", tok)
	if status != 200 || len(a.Result.Messages) != 2 || a.Result.Truncated {
		t.Fatalf("%d %+v", status, a)
	}
	m1, m2 := a.Result.Messages[0], a.Result.Messages[1]
	if m1.Topic != "r/1" || string(m1.Payload) != `{"n":1}` || m1.Bytes != 7 || m1.ExpiresAt == nil {
		t.Errorf("r/1: %+v", m1)
	}
	if m2.Topic != "r/2" || string(m2.Payload) != "two" || m2.ExpiresAt != nil {
		t.Errorf("r/2: %+v", m2)
	}

	narrow, _ := e.brokers["b1"].token(t, func(c *token.Claims) { c.TopicACL = []string{"r/1"} })
	if status, a := list("topic=r/%23", narrow); status != 403 || len(a.Errors) != 1 || !strings.Contains(a.Errors[0].Message, "does not allow subscribing") {
		t.Errorf("narrow token: %d %+v", status, a)
	}
	if status, a := list("", tok); status != 400 || len(a.Errors) != 1 {
		t.Errorf("no topic: %d %+v", status, a)
	}
	if status, _ := list("topic=r/%23", ""); status != 401 && status != 403 {
		t.Errorf("no token: %d", status)
	}
	if status, _, _ := e.request("POST", "b1", "/retained?topic=r/1", tok, "", nil); status != 405 {
		t.Errorf("POST: %d", status)
	}

	e.publishHTTP("b1", tok, "topic=r/1&retain=true", "") // deletes it
	if _, a := list("topic=r/%23", tok); len(a.Result.Messages) != 1 || a.Result.Messages[0].Topic != "r/2" {
		t.Errorf("after delete: %+v", a)
	}
}
