package edge

import (
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/openpubsub/pubsub/broker"
)

// isWebSocket reports whether r asks for a WebSocket upgrade.
func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serveWebSocket upgrades to MQTT over WebSocket and hands the byte
// stream to the node, which serves it like any TLS connection. The
// subprotocol must be mqtt when the client offers any; it may stand
// anywhere in a comma-separated list, on one header line or several.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	if protos := websocket.Subprotocols(r); len(protos) > 0 && !slices.Contains(protos, "mqtt") {
		writeError(w, errorf(EWEBSOCKET, "the WebSocket subprotocol must be mqtt"))
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   2048,
		WriteBufferSize:  2048,
		Subprotocols:     []string{"mqtt"},
		// s.cors has judged the origin already; tokens are not cookies,
		// so a foreign page gains nothing from a connection.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, errorf(EWEBSOCKET, "WebSocket handshake failed: %v", reason))
		},
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	// A frame may hold several packets, so allow a few packets' worth;
	// the node checks each packet against the maximum packet size.
	ws.SetReadLimit(int64(s.cfg.MaxPacketSize)*2 + 1024)
	var h *hub
	if b != nil {
		h = s.hub(b)
	}
	if h != nil {
		h.wsConns.Add(1)
		h.wsTotal.Add(1)
		defer h.wsConns.Add(-1)
	}
	c := &wsConn{ws: ws}
	s.backend.ServeMQTT(c, b)
	c.Close()
}

// errTextFrame ends a connection that sent a text frame: MQTT packets
// travel in binary frames only (MQTT v5 §6.0).
var errTextFrame = errors.New("MQTT over WebSocket takes binary frames only")

// wsConn is a WebSocket as the byte stream an MQTT server reads and
// writes. Frame boundaries mean nothing to MQTT: one frame may carry
// several packets or part of one, and reads simply continue across
// frames. Each Write is one binary frame.
type wsConn struct {
	ws *websocket.Conn
	r  io.Reader // the current frame

	wmu       sync.Mutex                // gorilla allows one writer at a time
	wdl       atomic.Pointer[time.Time] // the write deadline, applied to gorilla under wmu
	closeOnce sync.Once
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			mt, r, err := c.ws.NextReader()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					return 0, io.EOF
				}
				return 0, err
			}
			if mt != websocket.BinaryMessage {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseUnsupportedData, errTextFrame.Error()), time.Now().Add(time.Second))
				return 0, errTextFrame
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// gorilla's write deadline is not safe to set during a write, and
	// mochi sets deadlines from its reader; so it is applied here.
	if d := c.wdl.Load(); d != nil {
		_ = c.ws.SetWriteDeadline(*d)
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a normal closure, then closes the connection.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline records the deadline for the next frames and sets it
// on the connection at once, which bounds a write already blocked too
// (net.Conn deadlines are safe to set at any time).
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}
