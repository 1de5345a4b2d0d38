package node_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/node"
)

// httpsAddr returns the address of the node's HTTPS listener.
func (e *env) httpsAddr() string {
	e.t.Helper()
	return e.node.HTTPSAddrs()[0].String()
}

// httpClient returns an HTTP/1.1 client that dials addr (the HTTPS
// listener when empty) and sends host as SNI and Host.
func (e *env) httpClient(addr string) *http.Client {
	if addr == "" {
		addr = e.httpsAddr()
	}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.ca.pool},
	}}
}

// request sends an HTTPS request to broker id's hostname (or to
// 127.0.0.1 when id is empty) and returns the status, headers and body.
func (e *env) request(method, id, target, tok string, body string, hdr map[string]string) (int, http.Header, string) {
	e.t.Helper()
	host := "127.0.0.1"
	if id != "" {
		host = e.brokers[id].host
	}
	req, err := http.NewRequest(method, "https://"+host+target, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.httpClient("").Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// publishHTTP publishes over HTTP and fails the test unless it is accepted.
func (e *env) publishHTTP(id, tok, query, body string) {
	e.t.Helper()
	if status, _, b := e.request("POST", id, "/events?"+query, tok, body, nil); status != 200 {
		e.t.Fatalf("publish %s: %d %s", query, status, b)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event, data string
}

// sseStream is an open SSE response.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent
	raw    chan string // every line as read, for framing checks
}

// subscribeSSE opens GET /events?query on broker id and waits for the
// stream-open event.
func (e *env) subscribeSSE(id, query, tok string, hdr map[string]string) *sseStream {
	e.t.Helper()
	s, status, body := e.trySSE(id, query, tok, hdr)
	if s == nil {
		e.t.Fatalf("SSE %s: %d %s", query, status, body)
	}
	if ev := s.next(e.t); ev.event != "stream-open" {
		e.t.Fatalf("first event %+v, want stream-open", ev)
	}
	return s
}

func (e *env) trySSE(id, query, tok string, hdr map[string]string) (*sseStream, int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", "https://"+e.brokers[id].host+"/events?"+query, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.httpClient("").Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 1000), raw: make(chan string, 10000)}
	e.t.Cleanup(func() { resp.Body.Close() })
	go s.read()
	return s, 200, ""
}

// read parses the stream as a browser would, keeping the raw lines too.
func (s *sseStream) read() {
	defer close(s.events)
	r := bufio.NewReader(s.resp.Body)
	var ev sseEvent
	var data []string
	hasData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		select {
		case s.raw <- line:
		default:
		}
		switch {
		case line == "":
			if hasData || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				s.events <- ev
			}
			ev, data, hasData = sseEvent{id: ev.id}, nil, false
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.id = value
			case "event":
				ev.event = value
			case "data":
				data, hasData = append(data, value), true
			}
		}
	}
}

// next returns the next event, failing after waitFor.
func (s *sseStream) next(t testing.TB) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(waitFor):
		t.Fatal("no event")
	}
	return sseEvent{}
}

// expect waits for a message event with data.
func (s *sseStream) expect(t testing.TB, data string) sseEvent {
	t.Helper()
	ev := s.next(t)
	if ev.event != "message" || ev.data != data {
		t.Fatalf("got event %+v, want message %q", ev, data)
	}
	return ev
}

// expectEnd waits for a stream-error event with the given envelope code,
// then the end of the stream.
func (s *sseStream) expectEnd(t testing.TB, code int) {
	t.Helper()
	ev := s.next(t)
	var env struct {
		Errors []struct {
			Code int `json:"code"`
		} `json:"errors"`
	}
	if ev.event != "stream-error" || json.Unmarshal([]byte(ev.data), &env) != nil || len(env.Errors) != 1 || env.Errors[0].Code != code {
		t.Fatalf("got %+v, want stream-error %d", ev, code)
	}
	select {
	case _, ok := <-s.events:
		if ok {
			t.Fatal("the stream went on after stream-error")
		}
	case <-time.After(waitFor):
		t.Fatal("the stream did not end after stream-error")
	}
}

// errorCode returns the numeric code of an error envelope.
func errorCode(t testing.TB, body string) int {
	t.Helper()
	var env struct {
		Success bool `json:"success"`
		Errors  []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Success || len(env.Errors) != 1 || env.Errors[0].Message == "" {
		t.Fatalf("not an error envelope: %q (%v)", body, err)
	}
	return env.Errors[0].Code
}

// wsNetConn is a gorilla client WebSocket as a net.Conn, for paho.
type wsNetConn struct {
	*websocket.Conn
	r  io.Reader
	mu sync.Mutex
	// pk is held by paho across the writes of one packet (it locks a
	// sync.Locker conn): without it, another of paho's goroutines could
	// write a frame between a packet's header and body, and the node
	// rightly read a malformed packet (1 run in 10 under -race).
	pk sync.Mutex
}

func (c *wsNetConn) Lock()   { c.pk.Lock() }
func (c *wsNetConn) Unlock() { c.pk.Unlock() }

func (c *wsNetConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsNetConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(p), c.WriteMessage(websocket.BinaryMessage, p)
}

func (c *wsNetConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// dialWS opens a WebSocket to broker id's path with the given
// subprotocol header value ("" sends none).
func (e *env) dialWS(id, path, protocols string) (*websocket.Conn, *http.Response, error) {
	e.t.Helper()
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.httpsAddr())
		},
		TLSClientConfig:  &tls.Config{RootCAs: e.ca.pool},
		HandshakeTimeout: waitFor,
	}
	hdr := http.Header{}
	if protocols != "" {
		hdr.Set("Sec-WebSocket-Protocol", protocols)
	}
	host := "127.0.0.1"
	if id != "" {
		host = e.brokers[id].host
	}
	ws, resp, err := d.Dial("wss://"+host+path, hdr)
	if err == nil {
		e.t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// connectWS opens an MQTT session over WebSocket with a fresh token.
func (e *env) connectWS(id string) *client {
	e.t.Helper()
	tok, _ := e.brokers[id].token(e.t, nil)
	return e.connectWSWith(id, tok)
}

// connectWSWith opens an MQTT session over WebSocket with tok.
func (e *env) connectWSWith(id, tok string) *client {
	e.t.Helper()
	ws, _, err := e.dialWS(id, "/mqtt", "mqtt")
	if err != nil {
		e.t.Fatalf("dial WebSocket: %v", err)
	}
	c := &client{msgs: make(chan *paho.Publish, 100), disc: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: &wsNetConn{Conn: ws},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disc <- d },
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, CleanStart: true, Password: []byte(tok), PasswordFlag: true}); err != nil {
		e.t.Fatalf("MQTT over WebSocket: %v", err)
	}
	e.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// startNodeWith starts another node on the env's certificates and
// current State, with edit applied to its Config.
func (e *env) startNodeWith(edit func(*node.Config)) *node.Node {
	e.t.Helper()
	cfg := node.Config{
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
		Certs: e.certs, Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	edit(&cfg)
	n, err := node.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = n.Close() })
	n.Apply(e.state)
	return n
}

// useNode points the env's clients at n.
func (e *env) useNode(n *node.Node) {
	e.node = n
	e.addr = n.MQTTAddrs()[0].String()
}

var _ = edge.DefaultConfig
var _ = url.Values{}
