package node

import (
	"net"
	"sync/atomic"
	"time"
)

// conn is the net.Conn a broker's mochi server reads and writes. It
// serves replayed bytes first (the CONNECT the node read to route a
// connection without SNI), and it follows the packet framing of what the
// client sends, so that a packet over the size limit is refused from its
// fixed header, before mochi allocates a buffer for its body, and with
// DISCONNECT 0x95 rather than a bare close.
//
// The hook finds a client's session through its conn (mochi's Client
// keeps the net.Conn it was given), which costs a type assertion and an
// atomic load instead of a map lookup on every publish and delivery.
type conn struct {
	net.Conn
	srv    *server
	replay []byte
	max    uint32
	frame  framer
	sess   atomic.Pointer[session]
	since  time.Time // when it reached its broker's server (clients.go)
}

// Read reads from the replay buffer, then from the connection, and checks
// the framing of what it returns. Only mochi's reader calls it.
func (c *conn) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(c.replay) > 0 {
		n = copy(p, c.replay)
		if c.replay = c.replay[n:]; len(c.replay) == 0 {
			c.replay = nil // let the packet be collected
		}
	} else {
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		if ferr := c.frame.scan(p[:n], c.max); ferr != nil {
			if ferr == errTooLarge && c.srv != nil {
				c.srv.packetTooLarge(c)
			}
			return 0, ferr
		}
	}
	return n, err
}

// NetConn returns the connection under c. Mochi's fork reaches the
// socket through it to wait while a session is idle; by then the replay
// buffer, which holds only the CONNECT, has been read.
func (c *conn) NetConn() net.Conn { return c.Conn }

// framer follows the MQTT framing of a byte stream: a type byte, a
// remaining length of one to four bytes, then that many bytes of body.
type framer struct {
	left   int // body bytes of the current packet still to come
	inLen  bool
	nLen   int // bytes of the remaining length read so far
	length int
}

// scan advances over b and fails when a packet's fixed header announces
// more than max bytes in all, or its remaining length is malformed.
func (f *framer) scan(b []byte, max uint32) error {
	for i := 0; i < len(b); {
		switch {
		case f.left > 0:
			skip := min(f.left, len(b)-i)
			f.left -= skip
			i += skip
		case !f.inLen:
			f.inLen, f.nLen, f.length = true, 0, 0
			i++
		default:
			v := b[i]
			i++
			f.length |= int(v&0x7f) << (7 * f.nLen)
			f.nLen++
			if v&0x80 != 0 {
				if f.nLen == 4 {
					return errMalformed
				}
				continue
			}
			if uint64(1+f.nLen)+uint64(f.length) > uint64(max) {
				return errTooLarge
			}
			f.inLen, f.left = false, f.length
		}
	}
	return nil
}
