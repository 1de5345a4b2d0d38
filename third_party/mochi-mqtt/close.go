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

// closeConn closes a stopped client's connection without resetting it,
// and returns a channel closed once the connection is.
//
// Fork: upstream closed the socket at once. When the client had sent
// bytes the server had not read (a client that exceeds its Receive
// Maximum is still sending, say), the kernel answers such a close with a
// reset, and the client's system may drop what it has not read yet, the
// DISCONNECT that says why among it. Now the writing side is shut down
// (TLS close_notify, then TCP FIN, both after what was written before),
// what the client still sends is read and discarded until it closes its
// side or closeLinger passes, and only then is the connection closed.
// This runs on its own goroutine, so Stop does not wait; when closeLinger
// passes, the socket itself is closed, which nothing can block.
func closeConn(c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	var layers []closeWriter
	var sock net.Conn // the innermost layer that can be half closed: the socket
	for x := c; x != nil; {
		if cw, ok := x.(closeWriter); ok {
			layers = append(layers, cw)
			sock = x
		}
		u, ok := x.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		x = u.NetConn()
	}
	if sock == nil {
		_ = c.Close()
		close(done)
		return done
	}
	go func() {
		defer close(done)
		timer := time.AfterFunc(closeLinger, func() { _ = sock.Close() })
		defer timer.Stop()
		for _, l := range layers {
			_ = l.CloseWrite()
		}
		// The socket is read directly: the bytes are thrown away, whatever
		// their framing. Until the client's FIN, an error, the deadline
		// or the timer's close.
		_ = sock.SetReadDeadline(time.Now().Add(closeLinger))
		_, _ = io.Copy(io.Discard, sock)
		_ = c.Close()
	}()
	return done
}
