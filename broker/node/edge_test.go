package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// TestEdgeTransports sends a message from each transport (MQTT over
// TLS, MQTT over WebSocket, HTTP POST) and checks that every receiving
// transport (MQTT, WebSocket, SSE) gets it, on one broker, and that
// nothing crosses to another broker.
func TestEdgeTransports(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a", "b")
	tok, _ := e.brokers["a"].token(t, nil)
	tokB, _ := e.brokers["b"].token(t, nil)

	mq, _ := e.mustConnect("a")
	ws := e.connectWS("a")
	for _, c := range []*client{mq, ws} {
		if _, err := c.subscribe(t, "t/#", 1); err != nil {
			t.Fatal(err)
		}
	}
	sse := e.subscribeSSE("a", "topic=t/%2B", tok, nil)
	other := e.subscribeSSE("b", "topic=%23", tokB, nil)
	otherMQ, _ := e.mustConnect("b")
	if _, err := otherMQ.subscribe(t, "#", 1); err != nil {
		t.Fatal(err)
	}

	senders := []struct {
		name string
		send func(payload string)
	}{
		{"MQTT", func(p string) {
			if _, err := mq.publish(t, "t/mqtt", 1, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"WebSocket", func(p string) {
			if _, err := ws.publish(t, "t/ws", 1, p); err != nil {
				t.Fatal(err)
			}
		}},
		{"HTTP", func(p string) { e.publishHTTP("a", tok, "topic=t/http", p) }},
	}
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) {
			payload := "from " + s.name
			s.send(payload)
			topic := "t/" + map[string]string{"MQTT": "mqtt", "WebSocket": "ws", "HTTP": "http"}[s.name]
			mq.expectMessage(t, topic, payload)
			ws.expectMessage(t, topic, payload)
			sse.expect(t, payload)
		})
	}
	// Broker b saw none of it: its own marker is the first thing it gets.
	e.publishHTTP("b", tokB, "topic=marker", "b only")
	if ev := other.next(t); ev.data != "b only" {
		t.Fatalf("broker b's SSE stream got %+v first", ev)
	}
	otherMQ.expectNoMessageBefore(t, "b only")
}

// TestHTTPPublishProperties checks what an HTTP publish carries to MQTT:
// Content-Type as the Content Type property, ttl as the expiry, the
// body byte for byte.
func TestHTTPPublishProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	c, _ := e.mustConnect("a")
	if _, err := c.subscribe(t, "p", 0); err != nil {
		t.Fatal(err)
	}
	body := "\x00\x01binary\xff"
	status, _, resp := e.request("POST", "a", "/events?topic=p&ttl=60", tok, body, map[string]string{"Content-Type": "application/x-test"})
	if status != 200 || !regexp.MustCompile(`"result":\{"id":"[0-9A-Z]{26}","topic":"p","retained":false,"bytes":9\}`).MatchString(resp) {
		t.Fatalf("publish answered %d %s", status, resp)
	}
	select {
	case m := <-c.msgs:
		if string(m.Payload) != body || m.Properties.ContentType != "application/x-test" ||
			m.Properties.MessageExpiry == nil || *m.Properties.MessageExpiry > 60 || *m.Properties.MessageExpiry < 58 {
			t.Fatalf("got %q %+v", m.Payload, m.Properties)
		}
	case <-time.After(waitFor):
		t.Fatal("no message")
	}
}

// TestEdgeBadInput checks the status and error code of every refusal
// that happens before a stream starts.
func TestEdgeBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{MaxPacketSize: 1024}, "a", "b")
	tok, _ := e.brokers["a"].token(t, nil)
	narrow, _ := e.brokers["a"].token(t, func(c *token.Claims) { c.TopicACL = []string{"allowed/#"} })
	readOnly, _ := e.brokers["a"].token(t, func(c *token.Claims) { c.PublishACL = []string{} })
	other, _ := e.brokers["b"].token(t, nil)
	expired, _ := e.brokers["a"].token(t, func(c *token.Claims) { c.IssuedAt -= 7200; c.ExpiresAt = time.Now().Add(-time.Hour).Unix() })
	// A token signed by a key the broker does not know: fastly answers 500.
	stranger := newTestBroker(t, "a")
	unknownKid, _ := stranger.token(t, nil)
	topics := func(n int) string {
		var q []string
		for i := range n {
			q = append(q, fmt.Sprintf("topic=t%d", i))
		}
		return strings.Join(q, "&")
	}
	big := strings.Repeat("x", 1024)
	for _, tc := range []struct {
		name, method, target, tok, body string
		status, code                    int
	}{
		{"SSENoToken", "GET", "/events?topic=a", "", "", 401, 20010},
		{"SSEBadToken", "GET", "/events?topic=a", "not.a.token", "", 401, 20011},
		{"SSEUnknownKid", "GET", "/events?topic=a", unknownKid, "", 401, 20011},
		{"SSEExpired", "GET", "/events?topic=a", expired, "", 401, 20011},
		{"SSEOtherBroker", "GET", "/events?topic=a", other, "", 401, 20011},
		{"SSENoRights", "GET", "/events?topic=other", narrow, "", 403, 20012},
		{"SSEWildcardBeyondRights", "GET", "/events?topic=%23", narrow, "", 403, 20012},
		{"SSESys", "GET", "/events?topic=$SYS/%23", tok, "", 403, 20012},
		{"SSENoTopic", "GET", "/events", tok, "", 400, 20000},
		{"SSEBadFilter", "GET", "/events?topic=a/%23/b", tok, "", 400, 20001},
		{"SSEEmptyTopic", "GET", "/events?topic=", tok, "", 400, 20001},
		{"SSEShared", "GET", "/events?topic=$share/g/a", tok, "", 400, 20001},
		{"SSETooManyTopics", "GET", "/events?" + topics(11), tok, "", 400, 20002},
		{"SSEBadDurable", "GET", "/events?topic=a&durable=maybe", tok, "", 400, 20003},
		{"SSEBadQuery", "GET", "/events?topic=%zz", tok, "", 400, 20003},
		{"PublishNoToken", "POST", "/events?topic=a", "", "x", 401, 20010},
		{"PublishUnknownKid", "POST", "/events?topic=a", unknownKid, "x", 401, 20011},
		{"PublishNoRights", "POST", "/events?topic=other", narrow, "x", 403, 20012},
		{"PublishReadOnly", "POST", "/events?topic=a", readOnly, "x", 403, 20012},
		{"PublishDollar", "POST", "/events?topic=$x", tok, "x", 403, 20012},
		{"PublishWildcard", "POST", "/events?topic=a/%2B", tok, "x", 400, 20001},
		{"PublishNoTopic", "POST", "/events", tok, "x", 400, 20000},
		{"PublishTwoTopics", "POST", "/events?topic=a&topic=b", tok, "x", 400, 20003},
		{"PublishTooLarge", "POST", "/events?topic=a", tok, big, 413, 20020},
		{"PublishBadTTL", "POST", "/events?topic=a&ttl=-1", tok, "x", 400, 20003},
		{"PublishZeroTTL", "POST", "/events?topic=a&ttl=0", tok, "x", 400, 20003},
		{"PublishHugeTTL", "POST", "/events?topic=a&ttl=4294967296", tok, "x", 400, 20003},
		{"PublishBadRetain", "POST", "/events?topic=a&retain=yes", tok, "x", 400, 20003},
		{"WrongMethod", "PUT", "/events?topic=a", tok, "x", 405, 20031},
		{"UnknownPath", "GET", "/nope", tok, "", 404, 20030},
		{"MQTTWithoutUpgrade", "GET", "/mqtt", tok, "", 400, 20032},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, body := e.request(tc.method, "a", tc.target, tc.tok, tc.body, nil)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if got := errorCode(t, body); got != tc.code {
				t.Fatalf("code %d, want %d: %s", got, tc.code, body)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if status == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", hdr)
			}
		})
	}
	t.Run("ExactlyMaxTopics", func(t *testing.T) {
		e.subscribeSSE("a", topics(10), tok, nil)
	})
	t.Run("DuplicateTopicsCountOnce", func(t *testing.T) {
		e.subscribeSSE("a", topics(10)+"&topic=t0&topic=t1", tok, nil)
	})
	t.Run("LargestBody", func(t *testing.T) {
		// 1024 - 1 (type) - 4 (length) - 3 (topic) - 1 (no properties)
		e.publishHTTP("a", tok, "topic=a", big[:1015])
	})
	t.Run("BodyOverLimitWithoutLength", func(t *testing.T) {
		req, _ := http.NewRequest("POST", "https://"+e.brokers["a"].host+"/events?topic=a", io.MultiReader(strings.NewReader(big), strings.NewReader(big)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.ContentLength = -1 // chunked
		resp, err := e.httpClient("").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	stillServes(t, e)
}

// TestSSEFraming sends payloads that would break SSE framing if passed
// through: CR, LF and CRLF split data lines and no raw CR reaches the
// wire; non-UTF-8 and NUL go base64.
func TestSSEFraming(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	s := e.subscribeSSE("a", "topic=f", tok, nil)
	for _, tc := range []struct {
		name, payload, event, data string
	}{
		{"Plain", `{"text":"hello world"}`, "message", `{"text":"hello world"}`},
		{"LF", "a\nb", "message", "a\nb"},
		{"CR", "a\rb\revent: injected", "message", "a\nb\nevent: injected"},
		{"CRLF", "a\r\nb", "message", "a\nb"},
		{"TrailingLF", "a\n", "message", "a\n"},
		{"Empty", "", "message", ""},
		{"NotUTF8", "\xff\xfe", "message-base64", base64.StdEncoding.EncodeToString([]byte("\xff\xfe"))},
		{"NUL", "a\x00b", "message-base64", base64.StdEncoding.EncodeToString([]byte("a\x00b"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.publishHTTP("a", tok, "topic=f", tc.payload)
			ev := s.next(t)
			if ev.event != tc.event || ev.data != tc.data {
				t.Fatalf("got %+v, want %s %q", ev, tc.event, tc.data)
			}
			if !regexp.MustCompile(`^[0-9a-f]{16}-[0-9]+$`).MatchString(ev.id) {
				t.Fatalf("id %q is not <16 hex>-<seq>", ev.id)
			}
		})
	}
	for len(s.raw) > 0 {
		if l := <-s.raw; strings.Contains(l, "\r") {
			t.Fatalf("a raw CR reached the wire: %q", l)
		}
	}
}

// TestSSEResume disconnects a client, publishes, and reconnects with
// Last-Event-ID: the missed messages arrive, once, in order, also when
// the id comes back with spaces around it or as lastEventId, and also
// after the last stream on the topic went away.
func TestSSEResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	for _, tc := range []struct {
		name string
		send func(s string) (query string, hdr map[string]string)
	}{
		{"Header", func(id string) (string, map[string]string) { return "", map[string]string{"Last-Event-ID": id} }},
		{"HeaderWithSpaces", func(id string) (string, map[string]string) {
			return "", map[string]string{"Last-Event-ID": "  " + id + " "}
		}},
		{"Query", func(id string) (string, map[string]string) { return "&lastEventId=" + id, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "r/" + tc.name
			s := e.subscribeSSE("a", "topic="+topic+"&topic=other", tok, nil)
			e.publishHTTP("a", tok, "topic="+topic, "one")
			id := s.expect(t, "one").id
			s.resp.Body.Close()
			e.publishHTTP("a", tok, "topic="+topic, "two")
			e.publishHTTP("a", tok, "topic=other", "three")
			q, hdr := tc.send(id)
			s2 := e.subscribeSSE("a", "topic="+topic+"&topic=other"+q, tok, hdr)
			s2.expect(t, "two")
			last := s2.expect(t, "three")
			e.publishHTTP("a", tok, "topic="+topic, "four")
			s2.expect(t, "four")
			if last.id == id {
				t.Fatal("the id did not advance")
			}
		})
	}
	t.Run("UnknownIDIsNotAnError", func(t *testing.T) {
		e.subscribeSSE("a", "topic=x", tok, map[string]string{"Last-Event-ID": "garbage"})
	})
}

// TestSSEDurable checks retained messages: durable=true gets the stored
// one first; a live retained publish reaches every stream, durable or
// not (fastly's non-durable SSE subscribers never got it); MQTT retain
// handling 0 gets an HTTP-retained message.
func TestSSEDurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	plain := e.subscribeSSE("a", "topic=d", tok, nil)
	e.publishHTTP("a", tok, "topic=d&retain=true", "kept")
	plain.expect(t, "kept")

	durable := e.subscribeSSE("a", "topic=d&durable=true", tok, nil)
	durable.expect(t, "kept")
	late := e.subscribeSSE("a", "topic=d", tok, nil)
	e.publishHTTP("a", tok, "topic=d", "live")
	late.expect(t, "live") // not "kept": it did not ask for durable delivery
	durable.expect(t, "live")

	c, _ := e.mustConnect("a")
	if _, err := c.subscribe(t, "d", 1); err != nil {
		t.Fatal(err)
	}
	c.expectMessage(t, "d", "kept")

	// An empty retained publish deletes it.
	e.publishHTTP("a", tok, "topic=d&retain=true", "")
	e.publishHTTP("a", tok, "topic=marker", "m")
	fresh := e.subscribeSSE("a", "topic=d&topic=marker&durable=true", tok, nil)
	e.publishHTTP("a", tok, "topic=marker", "after")
	fresh.expect(t, "after")
}

// TestRetainedSurviveRestart publishes retained messages over HTTP and
// MQTT, restarts the node on the same data dir, and finds them there;
// a message with a TTL expires.
func TestRetainedSurviveRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	dir := t.TempDir()
	first := e.startNodeWith(func(c *node.Config) { c.DataDir = dir })
	e.useNode(first)
	tok, _ := e.brokers["a"].token(t, nil)
	e.publishHTTP("a", tok, "topic=k/http&retain=true", "over http")
	e.publishHTTP("a", tok, "topic=k/short&retain=true&ttl=1", "short-lived")
	c, _ := e.mustConnect("a")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "k/mqtt", QoS: 1, Retain: true, Payload: []byte("over mqtt")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	e.useNode(e.startNodeWith(func(c *node.Config) { c.DataDir = dir }))
	sub, _ := e.mustConnect("a")
	if _, err := sub.subscribe(t, "k/mqtt", 1); err != nil {
		t.Fatal(err)
	}
	// With its QoS: a reloaded QoS 1 message was delivered at QoS 0.
	select {
	case m := <-sub.msgs:
		if m.Topic != "k/mqtt" || string(m.Payload) != "over mqtt" || m.QoS != 1 || !m.Retain {
			t.Fatalf("got %q on %q at QoS %d (retain %v), want \"over mqtt\" on k/mqtt at QoS 1, retained", m.Payload, m.Topic, m.QoS, m.Retain)
		}
	case <-time.After(waitFor):
		t.Fatal("no retained message after the restart")
	}
	s := e.subscribeSSE("a", "topic=k/http&durable=true", tok, nil)
	s.expect(t, "over http")

	// The TTL runs out: the message is gone for new subscribers, SSE and
	// MQTT alike. A marker published after subscribing tells "nothing
	// retained" from "not yet delivered".
	eventually(t, "the retained message with ttl=1 to expire", func() bool {
		s, status, body := e.trySSE("a", "topic=k/short&topic=k/z&durable=true", tok, nil)
		if s == nil {
			t.Fatalf("%d %s", status, body)
		}
		defer s.resp.Body.Close()
		s.next(t) // stream-open
		e.publishHTTP("a", tok, "topic=k/z", "marker")
		return s.next(t).data == "marker"
	})
	// Mochi drops expired retained messages once a second, so MQTT
	// subscribers may see one for up to a second more.
	eventually(t, "MQTT subscribers to stop getting the expired message", func() bool {
		late, _ := e.mustConnect("a")
		defer late.Disconnect(&paho.Disconnect{})
		if _, err := late.subscribe(t, "k/+", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := late.publish(t, "k/z", 0, "marker"); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for !got["marker"] {
			select {
			case m := <-late.msgs:
				got[string(m.Payload)] = true
			case <-time.After(waitFor):
				t.Fatalf("got only %v", got)
			}
		}
		if !got["over http"] || !got["over mqtt"] {
			t.Fatalf("the unexpired retained messages did not come first: %v", got)
		}
		return !got["short-lived"]
	})
}

// TestSSEEnforcement ends streams as MQTT sessions end: revocation, key
// removal, broker deletion, token expiry; a WebSocket session is an MQTT
// session and ends with its DISCONNECT.
func TestSSEEnforcement(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{TokenLeeway: time.Second}, "a", "gone")
	b := e.brokers["a"]
	revokedTok, revoked := b.token(t, nil)
	s1 := e.subscribeSSE("a", "topic=x", revokedTok, nil)
	ws := e.connectWSWith("a", revokedTok)
	e.apply(feed.Event{Type: feed.TypeRevoked, BrokerID: "a", Revocation: &feed.Revocation{JTI: revoked.ID}})
	s1.expectEnd(t, 20042)
	ws.expectDisconnect(t, 0x87)
	if status, _, _ := e.request("GET", "a", "/events?topic=x", revokedTok, "", nil); status != 401 {
		t.Fatalf("revoked token reconnects with %d", status)
	}

	shortTok, _ := b.token(t, func(c *token.Claims) { c.ExpiresAt = time.Now().Add(time.Second).Unix() })
	s2 := e.subscribeSSE("a", "topic=x", shortTok, nil)
	s2.expectEnd(t, 20043)

	goneTok, _ := e.brokers["gone"].token(t, nil)
	s3 := e.subscribeSSE("gone", "topic=x", goneTok, nil)
	e.apply(feed.Event{Type: feed.TypeBrokerDeleted, BrokerID: "gone"})
	s3.expectEnd(t, 20040)

	// Removing the key that signed a token ends its stream.
	keyTok, _ := b.token(t, nil)
	s4 := e.subscribeSSE("a", "topic=x", keyTok, nil)
	nb := b.feed
	nb.Keys = nil
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &nb})
	s4.expectEnd(t, 20042)
}

// TestSlowSSEClient fills a stream's queue without reading it: the
// stream ends, and publishers were never slowed.
func TestSlowSSEClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	tc, err := tls.Dial("tcp", e.httpsAddr(), &tls.Config{ServerName: e.brokers["a"].host, RootCAs: e.ca.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprintf(tc, "GET /events?topic=slow HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", e.brokers["a"].host, tok)
	if _, err := tc.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	c, _ := e.mustConnect("a")
	big := strings.Repeat("x", 60000)
	start := time.Now()
	for e.metric(`pubsub_sse_evicted_total{broker="`+e.brokers["a"].host+`"}`) < 1 {
		if time.Since(start) > 2*waitFor {
			t.Fatal("the slow stream was never evicted")
		}
		for range 20 {
			if _, err := c.publish(t, "slow", 0, big); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestWebSocket checks MQTT over WebSocket at the protocol level:
// subprotocol negotiation, several packets in one frame, one packet over
// several frames, UNSUBACK's type, and a bare DISCONNECT.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	t.Run("Subprotocols", func(t *testing.T) {
		for _, tc := range []struct {
			name, offer, path, want string
			ok                      bool
		}{
			{"Exact", "mqtt", "/mqtt", "mqtt", true},
			{"InList", "mqttv3.1, mqtt", "/mqtt", "mqtt", true},
			{"ListNoSpace", "foo,mqtt", "/", "mqtt", true},
			{"None", "", "/mqtt", "", true},
			{"Other", "foo", "/mqtt", "", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ws, resp, err := e.dialWS("a", tc.path, tc.offer)
				if !tc.ok {
					if err == nil || resp == nil || resp.StatusCode != 400 {
						t.Fatalf("offer %q accepted (%v)", tc.offer, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("offer %q: %v", tc.offer, err)
				}
				if ws.Subprotocol() != tc.want {
					t.Fatalf("subprotocol %q, want %q", ws.Subprotocol(), tc.want)
				}
			})
		}
	})

	ws, _, err := e.dialWS("a", "/mqtt", "mqtt")
	if err != nil {
		t.Fatal(err)
	}
	r := &wsNetConn{Conn: ws}
	_ = r.SetDeadline(time.Now().Add(waitFor))
	encode := func(cp *packets.ControlPacket) []byte {
		var b bytes.Buffer
		if _, err := cp.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	connect := packets.NewControlPacket(packets.CONNECT)
	cc := connect.Content.(*packets.Connect)
	cc.ProtocolName, cc.ProtocolVersion, cc.KeepAlive, cc.CleanStart = "MQTT", 5, 30, true
	cc.Password, cc.PasswordFlag = []byte(tok), true
	subscribe := packets.NewControlPacket(packets.SUBSCRIBE)
	sc := subscribe.Content.(*packets.Subscribe)
	sc.PacketID, sc.Subscriptions = 1, []packets.SubOptions{{Topic: "w"}}
	publish := packets.NewControlPacket(packets.PUBLISH)
	pc := publish.Content.(*packets.Publish)
	pc.Topic, pc.Payload = "w", []byte("bounded by its length")
	unsubscribe := packets.NewControlPacket(packets.UNSUBSCRIBE)
	uc := unsubscribe.Content.(*packets.Unsubscribe)
	uc.PacketID, uc.Topics = 2, []string{"w"}

	// CONNECT, SUBSCRIBE and PUBLISH in one frame: the PUBLISH payload
	// must end where its length says, not swallow what follows.
	frame := append(append(encode(connect), encode(subscribe)...), encode(publish)...)
	if err := ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		t.Fatal(err)
	}
	read := func() *packets.ControlPacket {
		p, err := packets.ReadPacket(r)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return p
	}
	if p := read(); p.Type != packets.CONNACK || p.Content.(*packets.Connack).ReasonCode != 0 {
		t.Fatalf("got %v, want CONNACK 0", p)
	}
	if p := read(); p.Type != packets.SUBACK {
		t.Fatalf("got %v, want SUBACK", p)
	}
	if p := read(); p.Type != packets.PUBLISH || string(p.Content.(*packets.Publish).Payload) != "bounded by its length" {
		t.Fatalf("got %v, want the PUBLISH back", p)
	}
	// One packet in three frames.
	b := encode(publish)
	for _, part := range [][]byte{b[:1], b[1:4], b[4:]} {
		if err := ws.WriteMessage(websocket.BinaryMessage, part); err != nil {
			t.Fatal(err)
		}
	}
	if p := read(); p.Type != packets.PUBLISH {
		t.Fatalf("got %v, want PUBLISH", p)
	}
	// UNSUBACK has type 11 (first byte 0xB0), not SUBACK's 0x90.
	raw := encode(unsubscribe)
	if err := ws.WriteMessage(websocket.BinaryMessage, raw); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if msg[0] != 0xB0 {
		t.Fatalf("UNSUBACK starts with %#x, want 0xb0", msg[0])
	}
	// A bare DISCONNECT (e0 00) is a normal end: the server closes the
	// WebSocket normally.
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{0xE0, 0x00}); err != nil {
		t.Fatal(err)
	}
	_, _, err = ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("after DISCONNECT: %v, want a normal close", err)
	}
}

// TestPortSharing speaks each protocol on the other's port: HTTPS on the
// MQTT listener (by first byte and by ALPN) and MQTT on the HTTPS one.
func TestPortSharing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	for _, tc := range []struct {
		name  string
		h2    bool
		proto int
	}{
		{"HTTP1", false, 1},
		{"HTTP2", true, 2},
	} {
		t.Run(tc.name+"OnMQTTPort", func(t *testing.T) {
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, e.addr)
				},
				TLSClientConfig:   &tls.Config{RootCAs: e.ca.pool},
				ForceAttemptHTTP2: tc.h2,
			}
			req, _ := http.NewRequest("POST", "https://"+e.brokers["a"].host+"/events?topic=shared", strings.NewReader("x"))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto {
				t.Fatalf("status %d over HTTP/%d, want 200 over HTTP/%d", resp.StatusCode, resp.ProtoMajor, tc.proto)
			}
		})
	}
	t.Run("SSEOverHTTP2", func(t *testing.T) {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, e.httpsAddr())
			},
			TLSClientConfig: &tls.Config{RootCAs: e.ca.pool}, ForceAttemptHTTP2: true,
		}
		req, _ := http.NewRequest("GET", "https://"+e.brokers["a"].host+"/events?topic=h2", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d", resp.ProtoMajor)
		}
		s := &sseStream{resp: resp, events: make(chan sseEvent, 10), raw: make(chan string, 100)}
		go s.read()
		s.next(t)
		e.publishHTTP("a", tok, "topic=h2", "over h2")
		s.expect(t, "over h2")
	})
	t.Run("MQTTOnHTTPSPort", func(t *testing.T) {
		for _, alpn := range [][]string{nil, {"mqtt"}, {"x-amzn-mqtt-ca"}} {
			tc, err := tls.Dial("tcp", e.httpsAddr(), &tls.Config{ServerName: e.brokers["a"].host, RootCAs: e.ca.pool, NextProtos: alpn})
			if err != nil {
				t.Fatalf("ALPN %v: %v", alpn, err)
			}
			r := &rawConn{tc}
			_ = r.SetDeadline(time.Now().Add(waitFor))
			if ack := r.connectV5(t, "", tok); ack.ReasonCode != 0 {
				t.Fatalf("ALPN %v: CONNACK %#x", alpn, ack.ReasonCode)
			}
			tc.Close()
		}
	})
	t.Run("HTTPWithoutSNIRoutesByToken", func(t *testing.T) {
		status, _, body := e.request("POST", "", "/events?topic=nosni", tok, "x", nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	})
}

// TestCORS checks browser access: "*" without credentials, preflight.
func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	status, hdr, _ := e.request("OPTIONS", "a", "/events?topic=x", "", "", map[string]string{
		"Origin": "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type",
	})
	if status != 204 || hdr.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "Authorization") || hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", status, hdr)
	}
	status, hdr, _ = e.request("POST", "a", "/events?topic=x", tok, "x", map[string]string{"Origin": "https://app.example"})
	if status != 200 || hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("publish: %d %v", status, hdr)
	}
	limited := e.startNodeWith(func(c *node.Config) { c.Edge.Origins = []string{"https://good.example"} })
	e.useNode(limited)
	t.Run("AllowList", func(t *testing.T) {
		for _, tc := range []struct {
			origin string
			status int
			allow  string
		}{
			{"https://good.example", 200, "https://good.example"},
			{"https://evil.example", 403, ""},
		} {
			status, hdr, _ := e.request("POST", "a", "/events?topic=x", tok, "x", map[string]string{"Origin": tc.origin})
			if status != tc.status || hdr.Get("Access-Control-Allow-Origin") != tc.allow || hdr.Get("Vary") != "Origin" {
				t.Fatalf("origin %s: %d %v", tc.origin, status, hdr)
			}
		}
	})
}

// TestEdgeMetrics checks the edge's series in /metrics.
func TestEdgeMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	host := e.brokers["a"].host
	s := e.subscribeSSE("a", "topic=m", tok, nil)
	e.publishHTTP("a", tok, "topic=m", "x")
	s.expect(t, "x")
	e.connectWS("a")
	for sample, want := range map[string]int64{
		`pubsub_sse_clients{broker="` + host + `"}`:          1,
		`pubsub_http_publishes_total{broker="` + host + `"}`: 1,
		`pubsub_ws_connections{broker="` + host + `"}`:       1,
		// Not pubsub_ws_connections_total, one family with the gauge
		// in OpenMetrics.
		`pubsub_ws_connections_accepted_total{broker="` + host + `"}`: 1,
	} {
		if got := e.metric(sample); got != want {
			t.Errorf("%s = %d, want %d", sample, got, want)
		}
	}
	// The edge's families pass the parser and the linter with the node's.
	raw, _ := e.scrape("")
	fams := parseExposition(t, raw)
	wantSeries(t, fams, "pubsub_sse_streams_total", map[string]string{"broker": host}, 1)
}

// TestHTTPPublishRate is issue 14's finding 13: the node's message rate
// applies to a token's HTTP publishes (429 with Retry-After past the
// burst, counted), per token, and to MQTT over WebSocket as to any MQTT
// connection.
func TestHTTPPublishRate(t *testing.T) {
	t.Parallel()
	// One message per 100 s refills nothing while the test runs.
	e := newEnv(t, node.Limits{MessageRate: 0.01, MessageBurst: 3}, "a")
	host := e.brokers["a"].host
	tok, _ := e.brokers["a"].token(t, nil)
	for i := 0; i < 3; i++ {
		e.publishHTTP("a", tok, "topic=r", "x")
	}
	status, hdr, body := e.request("POST", "a", "/events?topic=r", tok, "x", nil)
	if status != 429 || errorCode(t, body) != 20050 {
		t.Fatalf("publish past the burst: %d %s, want 429 and code 20050", status, body)
	}
	if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || ra < 1 || ra > 100 {
		t.Errorf("Retry-After %q, want 1 to 100 seconds", hdr.Get("Retry-After"))
	}
	// Another token has a bucket of its own.
	other, _ := e.brokers["a"].token(t, nil)
	e.publishHTTP("a", other, "topic=r", "x")
	if got := e.metric(`pubsub_http_publishes_limited_total{broker="` + host + `"}`); got != 1 {
		t.Errorf("pubsub_http_publishes_limited_total = %d, want 1", got)
	}

	// The burst, then the one publish past it: a client that wrote on
	// after the DISCONNECT could fail its write and close before reading it.
	ws := e.connectWS("a")
	for i := 0; i < 4; i++ {
		_, _ = ws.publish(t, "fast", 0, "x")
	}
	ws.expectDisconnect(t, 0x96)
}
