package node_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// A key as fastly's POST /admin/keys and our signingkeys API make them.
const (
	fastlyKID   = "1a2b3c4d"
	fastlyValue = "0123456789abcdef0123456789abcdef01234567"
)

// enableSelfSigned turns on self-signed tokens for broker id, with the
// given keys (id to value), as the feed delivers them once opened.
func (e *env) enableSelfSigned(id string, wildcards bool, keys map[string]string) {
	e.t.Helper()
	fb := e.brokers[id].feed
	fb.SelfSignedTokens, fb.FastlyWildcards = true, wildcards
	for kid, v := range keys {
		fb.HMACKeys = append(fb.HMACKeys, feed.HMACKey{ID: kid, Sealed: "sealed", Secret: []byte(v)})
	}
	e.brokers[id].feed = fb
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
}

// pythonWithJWT returns a python3 that imports PyJWT (Debian's
// python3-jwt), or "".
func pythonWithJWT() string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import jwt").Run() == nil {
			return p
		}
	}
	return ""
}

// fastlyReadme is fastly/pubsub README's example, with only the key id
// and value changed (read from the environment), printing the token.
const fastlyReadme = `
import os
import jwt
import time

print(jwt.encode({
    "exp": int(time.time())+3600,
    "x-fastly-read": ["topic1","topic2"],
    "x-fastly-write": ["topic1","topic2"],
}, os.environ["KEY_VALUE"], headers={"kid":os.environ["KEY_ID"]}))
`

// readmeToken mints the README's token: with PyJWT when it is installed,
// else by hand, to the same bytes PyJWT writes (header
// {"alg":"HS256","kid":...,"typ":"JWT"}, compact JSON).
func readmeToken(t *testing.T, kid, value string) string {
	t.Helper()
	if py := pythonWithJWT(); py != "" {
		cmd := exec.Command(py, "-c", fastlyReadme)
		cmd.Env = append(os.Environ(), "KEY_ID="+kid, "KEY_VALUE="+value)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("PyJWT: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	t.Log("PyJWT is not installed (apt-get install python3-jwt): minting the README's token by hand")
	claims, _ := json.Marshal(map[string]any{
		"exp": time.Now().Unix() + 3600, "x-fastly-read": []string{"topic1", "topic2"}, "x-fastly-write": []string{"topic1", "topic2"},
	})
	return hs256(value, `{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, string(claims))
}

// hs256 signs a header and claims with HMAC-SHA256.
func hs256(secret, header, claims string) string {
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return signed + "." + enc.EncodeToString(mac.Sum(nil))
}

// fastlyToken mints a self-signed token with fastly's key and claims.
func fastlyToken(claims string) string {
	return hs256(fastlyValue, `{"alg":"HS256","kid":"`+fastlyKID+`","typ":"JWT"}`, claims)
}

// TestSelfSignedTokenEverywhere runs fastly's README: its Python example
// mints a token that subscribes over SSE (Bearer and auth=), publishes
// over HTTP, and connects over MQTT on TLS and on WebSocket.
func TestSelfSignedTokenEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	e.enableSelfSigned("a", false, map[string]string{fastlyKID: fastlyValue})
	tok := readmeToken(t, fastlyKID, fastlyValue)

	sse1 := e.subscribeSSE("a", "topic=topic1", tok, nil)
	sse2 := e.subscribeSSE("a", "topic=topic2&auth="+url.QueryEscape(tok), "", nil)

	// MQTT over TLS: the client keeps the id it sends.
	m, ca, err := e.connect(e.brokers["a"].host, "device-7", tok, nil)
	if err != nil {
		t.Fatalf("MQTT connect: %v (CONNACK %+v)", err, ca)
	}
	if ca.Properties != nil && ca.Properties.AssignedClientID != "" {
		t.Errorf("assigned client id %q, want the client's own", ca.Properties.AssignedClientID)
	}
	if sa, err := m.subscribe(t, "topic1", 0); err != nil || sa.Reasons[0] != 0 {
		t.Fatalf("SUBSCRIBE topic1: %v %+v", err, sa)
	}
	// An empty client id gets one assigned.
	anon, ca, err := e.connect(e.brokers["a"].host, "", tok, nil)
	if err != nil || ca.Properties == nil || ca.Properties.AssignedClientID == "" {
		t.Fatalf("connect without client id: %v, CONNACK %+v; want an assigned id", err, ca)
	}
	_ = anon

	e.publishHTTP("a", tok, "topic=topic1", `{"text":"hello world"}`)
	sse1.expect(t, `{"text":"hello world"}`)
	m.expectMessage(t, "topic1", `{"text":"hello world"}`)

	// HTTP publish with the token in auth=, as EventSource users have it.
	if status, _, body := e.request("POST", "a", "/events?topic=topic2&auth="+url.QueryEscape(tok), "", "via auth=", nil); status != 200 {
		t.Fatalf("publish with auth=: %d %s", status, body)
	}
	sse2.expect(t, "via auth=")

	ws := e.connectWSWith("a", tok)
	if _, err := ws.publish(t, "topic2", 0, "Hello mqtt"); err != nil {
		t.Fatal(err)
	}
	sse2.expect(t, "Hello mqtt")
}

// TestSelfSignedRefusals is the table of bad tokens, on MQTT (CONNACK)
// and on the HTTP edge (401), and of topics outside the claims.
func TestSelfSignedRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "other")
	e.enableSelfSigned("a", false, map[string]string{fastlyKID: fastlyValue})
	e.enableSelfSigned("other", false, map[string]string{"99999999": "the other broker's secret"})
	now := time.Now().Unix()
	good := `{"x-fastly-read":["topic1"],"x-fastly-write":["topic1"]}`
	enc := base64.RawURLEncoding
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edSigned := func(header, claims string) string {
		s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		return s + "." + enc.EncodeToString(ed25519.Sign(edPriv, []byte(s)))
	}
	for _, tc := range []struct{ name, tok string }{
		{"AlgNone", enc.EncodeToString([]byte(`{"alg":"none","kid":"`+fastlyKID+`"}`)) + "." + enc.EncodeToString([]byte(good)) + "."},
		{"RS256", hs256(fastlyValue, `{"alg":"RS256","kid":"`+fastlyKID+`"}`, good)},
		{"EdDSAWithHMACKid", edSigned(`{"alg":"EdDSA","kid":"`+fastlyKID+`"}`, good)},
		{"MissingKid", hs256(fastlyValue, `{"alg":"HS256","typ":"JWT"}`, good)},
		{"UnknownKid", hs256(fastlyValue, `{"alg":"HS256","kid":"00000000"}`, good)},
		{"KeyOfAnotherBroker", hs256("the other broker's secret", `{"alg":"HS256","kid":"99999999"}`, good)},
		{"ExpiredBeyondTolerance", fastlyToken(`{"exp":` + itoa(now-901) + `,"x-fastly-read":["topic1"]}`)},
		{"NonArrayClaims", fastlyToken(`{"x-fastly-read":"topic1"}`)},
		{"WrongSecret", hs256("guessed", `{"alg":"HS256","kid":"`+fastlyKID+`"}`, good)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ca, err := e.connect(e.brokers["a"].host, "c", tc.tok, nil)
			if err == nil || ca == nil || ca.ReasonCode != 0x86 {
				t.Errorf("MQTT: %v, CONNACK %+v; want 0x86", err, ca)
			}
			if status, _, body := e.request("GET", "a", "/events?topic=topic1", tc.tok, "", nil); status != 401 {
				t.Errorf("SSE: %d %s; want 401", status, body)
			}
			if status, _, body := e.request("POST", "a", "/events?topic=topic1", tc.tok, "x", nil); status != 401 {
				t.Errorf("HTTP publish: %d %s; want 401", status, body)
			}
		})
	}
	t.Run("ExpiredWithinTolerance", func(t *testing.T) {
		tok := fastlyToken(`{"exp":` + itoa(now-600) + `,"x-fastly-read":["topic1"]}`)
		if _, ca, err := e.connect(e.brokers["a"].host, "c", tok, nil); err != nil {
			t.Fatalf("connect: %v (CONNACK %+v)", err, ca)
		}
	})
	t.Run("TopicOutsideClaims", func(t *testing.T) {
		tok := fastlyToken(good)
		c, _, err := e.connect(e.brokers["a"].host, "c", tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"topic2", "Topic1", "#", "topic1/+"} {
			if sa, err := c.subscribe(t, f, 0); sa == nil || sa.Reasons[0] != 0x87 {
				t.Errorf("SUBSCRIBE %q: %v %+v; want 0x87", f, err, sa)
			}
		}
		if status, _, body := e.request("POST", "a", "/events?topic=topic2", tok, "x", nil); status != 403 {
			t.Errorf("HTTP publish outside x-fastly-write: %d %s; want 403", status, body)
		}
		if _, status, body := e.trySSE("a", "topic=topic2", tok, nil); status != 403 {
			t.Errorf("SSE outside x-fastly-read: %d %s; want 403", status, body)
		}
	})
	t.Run("NoSNI", func(t *testing.T) {
		_, ca, err := e.connect("", "c", fastlyToken(good), nil)
		if err == nil || ca == nil || ca.ReasonCode != 0x86 || ca.Properties == nil || !strings.Contains(ca.Properties.ReasonString, "SNI") {
			t.Fatalf("connect without SNI: %v, CONNACK %+v; want 0x86 naming SNI", err, ca)
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		fb := e.brokers["a"].feed
		fb.SelfSignedTokens, fb.HMACKeys = false, nil
		e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
		if _, ca, err := e.connect(e.brokers["a"].host, "c", fastlyToken(good), nil); err == nil || ca == nil || ca.ReasonCode != 0x86 {
			t.Errorf("MQTT on a broker without self-signed tokens: %v, CONNACK %+v; want 0x86", err, ca)
		}
	})
}

// TestSelfSignedKeyDeletionDisconnects removes a key: the MQTT sessions
// and SSE streams of the tokens it signed end within a second, the
// others stay.
func TestSelfSignedKeyDeletionDisconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	e.enableSelfSigned("a", false, map[string]string{fastlyKID: fastlyValue, "feedface": "second secret"})
	tok := fastlyToken(`{"x-fastly-read":["t"],"x-fastly-write":["t"]}`)
	victim, _, err := e.connect(e.brokers["a"].host, "victim", tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := e.subscribeSSE("a", "topic=t", tok, nil)
	kept, _, err := e.connect(e.brokers["a"].host, "kept", hs256("second secret", `{"alg":"HS256","kid":"feedface"}`, `{"x-fastly-write":["t"]}`), nil)
	if err != nil {
		t.Fatal(err)
	}

	fb := e.brokers["a"].feed
	for i, k := range fb.HMACKeys {
		if k.ID == fastlyKID {
			fb.HMACKeys = append(fb.HMACKeys[:i:i], fb.HMACKeys[i+1:]...)
			break
		}
	}
	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
	expectDisconnectWithin(t, victim, 0x87, start, time.Second)
	stream.expectEnd(t, 20042)
	if _, err := kept.publish(t, "t", 1, "still-here"); err != nil {
		t.Errorf("the session of the other key: %v", err)
	}
	if _, ca, err := e.connect(e.brokers["a"].host, "victim", tok, nil); err == nil || ca == nil || ca.ReasonCode != 0x86 {
		t.Errorf("reconnect with a deleted key: %v, CONNACK %+v; want 0x86", err, ca)
	}
}

// TestSelfSignedRevocation revokes a self-signed token by its jti.
func TestSelfSignedRevocation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	e.enableSelfSigned("a", false, map[string]string{fastlyKID: fastlyValue})
	tok := fastlyToken(`{"jti":"customer-chosen-1","x-fastly-read":["t"]}`)
	c, _, err := e.connect(e.brokers["a"].host, "c", tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: "customer-chosen-1"}})
	expectDisconnectWithin(t, c, 0x87, start, time.Second)
	if _, ca, err := e.connect(e.brokers["a"].host, "c", tok, nil); err == nil || ca == nil || ca.ReasonCode != 0x87 {
		t.Errorf("reconnect with a revoked token: %v, CONNACK %+v; want 0x87", err, ca)
	}
}

// TestSelfSignedWildcards reads the claims as filters only when the
// broker sets fastly_wildcards; switching it ends the sessions.
func TestSelfSignedWildcards(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	e.enableSelfSigned("a", false, map[string]string{fastlyKID: fastlyValue})
	tok := fastlyToken(`{"x-fastly-read":["rooms/+"],"x-fastly-write":["rooms/#"]}`)

	off, _, err := e.connect(e.brokers["a"].host, "off", tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sa, err := off.subscribe(t, "rooms/+", 0); sa == nil || sa.Reasons[0] != 0x87 {
		t.Fatalf("wildcards off: SUBSCRIBE rooms/+ = %v %+v; want 0x87", err, sa)
	}

	stream := e.subscribeSSE("a", "topic=lobby", fastlyToken(`{"x-fastly-read":["lobby"]}`), nil)

	fb := e.brokers["a"].feed
	fb.FastlyWildcards = true
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
	off.expectDisconnect(t, 0x98)
	stream.expectEnd(t, 20042)

	on, _, err := e.connect(e.brokers["a"].host, "on", tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sa, err := on.subscribe(t, "rooms/+", 0); err != nil || sa.Reasons[0] != 0 {
		t.Fatalf("wildcards on: SUBSCRIBE rooms/+ = %v %+v; want granted", err, sa)
	}
	if _, err := on.publish(t, "rooms/1", 0, "hi"); err != nil {
		t.Fatal(err)
	}
	on.expectMessage(t, "rooms/1", "hi")
	if sa, err := on.subscribe(t, "#", 0); sa == nil || sa.Reasons[0] != 0x87 {
		t.Fatalf("wildcards on: SUBSCRIBE # = %v %+v; want 0x87", err, sa)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
