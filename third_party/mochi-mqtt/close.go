// SPDX-License-Identifier: MIT

package mqtt

import (
	"io"
	"net"
	"time"
)

// closeLinger bounds how long a stopped client's connection is drained
// before it is closed (see closeConn).
const closeLinger = time.Second

// closeWriter is a connection whose writing side can be shut down alone:
// *tls.Conn (which sends close_notify) and *net.TCPConn (which sends FIN).
type closeWriter interface{ CloseWrite() error }

// closeConn closes a stopped client's connection without resetting it.
//
// Fork: upstream closed the socket at once. When the client had sent
// bytes the server had not read (a client that exceeds its Receive
// Maximum is still sending, say), the kernel answers such a close with a
// reset, and the client's system may drop what it has not read yet, the
// DISCONNECT that says why among it. Now the writing side is shut down
// (TLS close_notify, then TCP FIN, both after what was written before),
// what the client still sends is read and discarded until it closes its
// side or closeLinger passes, and only then is the connection closed.
// This runs on its own goroutine, so Stop does not wait, and the timer
// closes the connection even if a write is stuck.
func closeConn(c net.Conn) {
	var layers []closeWriter
	for x := c; x != nil; {
		if cw, ok := x.(closeWriter); ok {
			layers = append(layers, cw)
		}
		u, ok := x.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		x = u.NetConn()
	}
	// The innermost layer is the socket, which the drain reads from
	// directly: the bytes are thrown away, whatever their framing.
	var sock io.Reader
	if len(layers) > 0 {
		sock, _ = layers[len(layers)-1].(io.Reader)
	}
	if sock == nil {
		_ = c.Close()
		return
	}
	go func() {
		timer := time.AfterFunc(closeLinger, func() { _ = c.Close() })
		for _, l := range layers {
			_ = l.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, sock) // until the client's FIN, an error, or the timer's close
		if timer.Stop() {
			_ = c.Close()
		}
	}()
}
