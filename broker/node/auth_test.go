package node_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

func TestConnectRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "old")
	a, old := e.brokers["a"], e.brokers["old"]
	withExpiration := old.feed
	withExpiration.Expiration = 3600
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &withExpiration})
	revokedTok, revoked := a.token(t, nil)
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: revoked.ID}})

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged, _ := (&testBroker{host: a.host, kid: a.kid, priv: otherKey}).token(t, nil)
	stranger, _ := newTestBroker(t, "stranger").token(t, func(c *token.Claims) { c.Audience = a.host })
	now := time.Now().Unix()
	expired, _ := a.token(t, func(c *token.Claims) { c.IssuedAt, c.ExpiresAt = now-600, now-120 })
	future, _ := a.token(t, func(c *token.Claims) { c.IssuedAt = now + 3600 })
	wrongAud, _ := a.token(t, func(c *token.Claims) { c.Audience = old.host })
	tooOld, _ := old.token(t, func(c *token.Claims) { c.IssuedAt = now - 7200 })
	narrow, _ := a.token(t, func(c *token.Claims) { c.PublishACL = []string{"allowed/#"} })
	good, _ := a.token(t, nil)
	tokens := []string{revokedTok, forged, stranger, expired, future, wrongAud, tooOld, narrow, good}

	will := func(topic string) func(*paho.Connect) {
		return func(cp *paho.Connect) { cp.WillMessage = &paho.WillMessage{Topic: topic, Payload: []byte("x")} }
	}
	for _, tc := range []struct {
		name     string
		host     string
		clientID string
		tok      string
		edit     func(*paho.Connect)
		code     byte
	}{
		{"ErrBadSignature", a.host, "c", forged, nil, 0x86},
		{"ErrUnknownKey", a.host, "c", stranger, nil, 0x86},
		{"ErrExpired", a.host, "c", expired, nil, 0x86},
		{"ErrNotYetValid", a.host, "c", future, nil, 0x86},
		{"ErrWrongAudience", a.host, "c", wrongAud, nil, 0x86},
		{"ErrNotAToken", a.host, "c", "not.a.token", nil, 0x86},
		{"ErrNoPassword", a.host, "c", "", func(cp *paho.Connect) { cp.PasswordFlag = false }, 0x86},
		{"ErrPasswordTooLong", a.host, "c", strings.Repeat("x", 4097), nil, 0x86},
		{"ErrOlderThanBrokerExpiration", old.host, "c", tooOld, nil, 0x86},
		{"ErrRevoked", a.host, revoked.Subject, revokedTok, nil, 0x87},
		{"ErrClientIDTooLong", a.host, strings.Repeat("c", 257), good, nil, 0x85},
		{"ErrWillTopicNotAllowed", a.host, "c", narrow, will("other/topic"), 0x90},
		{"ErrWillTopicDollar", a.host, "c", good, will("$internal"), 0x90},
		{"WillTopicAllowed", a.host, "c", narrow, will("allowed/will"), 0x00},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ca, err := e.connect(tc.host, tc.clientID, tc.tok, tc.edit)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				_ = c.Disconnect(&paho.Disconnect{})
				return
			}
			if err == nil {
				t.Fatal("connect succeeded")
			}
			if ca == nil {
				t.Fatalf("no CONNACK: %v", err)
			}
			if got := ca.ReasonCode; got != tc.code {
				t.Errorf("CONNACK reason code = %#x (%q), want %#x", got, ca.Properties.ReasonString, tc.code)
			}
			if ca.Properties == nil || ca.Properties.ReasonString == "" {
				t.Error("CONNACK has no reason string")
			}
		})
	}

	if got := e.metric(`pubsub_auth_refusals_total{broker="` + a.host + `",reason="revoked"}`); got != 1 {
		t.Errorf("revoked refusals = %d, want 1", got)
	}
	if got := e.metric(`pubsub_auth_refusals_total{broker="` + a.host + `",reason="signature"}`); got != 1 {
		t.Errorf("signature refusals = %d, want 1", got)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "connection refused") {
		t.Error("refusals were not logged")
	}
	for _, tok := range tokens {
		// Any of the three segments would leak: the signature alone is
		// not secret, but claims and header shouldn't be logged either.
		for _, seg := range strings.Split(tok, ".") {
			if strings.Contains(logs, seg) {
				t.Fatalf("the logs contain a token segment")
			}
		}
	}
}

func TestMQTT3Refused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, claims := e.brokers["a"].token(t, nil)
	for _, tc := range []struct {
		name string
		host string
	}{
		{"SNI", e.brokers["a"].host},
		{"NoSNI", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dialRaw(tc.host)
			if _, err := r.Write(v311Connect(claims.Subject, tok)); err != nil {
				t.Fatal(err)
			}
			// 0x84 in the form a 3.1.1 client reads: return code 0x01,
			// "unacceptable protocol version".
			got := readUntilClosed(t, r)
			if want := []byte{0x20, 0x02, 0x00, 0x01}; !bytes.Equal(got, want) {
				t.Errorf("server sent % x, want % x then close", got, want)
			}
		})
	}
	// The refusal is counted as the connection closes, so the client can
	// see the close first: poll.
	sample := `pubsub_auth_refusals_total{broker="` + e.brokers["a"].host + `",reason="protocol_version"}`
	eventually(t, "the protocol_version refusal to be counted", func() bool { return e.metric(sample) >= 1 })
	if got := e.metric(sample); got != 1 {
		t.Errorf("protocol_version refusals = %d, want 1", got)
	}
}
