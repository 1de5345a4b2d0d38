// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

package mqtt

import (
	"bufio"
	"io"
	"net"
	"sync"
)

// readerPools holds idle read buffers, one pool per buffer size.
var readerPools sync.Map // int → *sync.Pool of *bufio.Reader

func readerPool(size int) *sync.Pool {
	if p, ok := readerPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := readerPools.LoadOrStore(size, &sync.Pool{
		New: func() any { return bufio.NewReaderSize(nil, size) },
	})
	return p.(*sync.Pool)
}

// packetReader is a client's buffered reader that holds its buffer only
// while there is something to read.
//
// Fork: upstream gave every client a bufio.Reader for its whole life, and
// an idle connection spends that life blocked in a read with the empty
// buffer held (2 KiB at the default ClientNetReadBufferSize). Here the
// buffer goes back to a pool at a packet boundary when it holds nothing,
// and the wait for the next packet reads its first byte on its own; the
// buffer is taken again for the rest, which the connection (a TLS
// connection holds the rest of the record) usually already has.
type packetReader struct {
	conn    net.Conn
	size    int
	br      *bufio.Reader
	one     [1]byte
	pending bool // one[0] was read ahead by prefetch
}

func newPacketReader(conn net.Conn, size int) *packetReader {
	return &packetReader{conn: conn, size: size}
}

// release returns the buffer to its pool if it holds no unread bytes, and
// reports whether nothing at all is left to read (the reader is idle).
func (r *packetReader) release() bool {
	if r.pending {
		return false
	}
	if r.br != nil {
		if r.br.Buffered() > 0 {
			return false
		}
		r.br.Reset(nil)
		readerPool(r.size).Put(r.br)
		r.br = nil
	}
	return true
}

// prefetch waits for the next byte without a buffer and keeps it for the
// next read.
func (r *packetReader) prefetch() error {
	if _, err := r.ReadByte(); err != nil {
		return err
	}
	r.pending = true
	return nil
}

func (r *packetReader) buffer() *bufio.Reader {
	if r.br == nil {
		r.br = readerPool(r.size).Get().(*bufio.Reader)
		r.br.Reset(r.conn)
	}
	return r.br
}

// ReadByte reads one byte: from the buffer if it is held, or else
// straight from the connection, without taking a buffer to wait in.
func (r *packetReader) ReadByte() (byte, error) {
	if r.pending {
		r.pending = false
		return r.one[0], nil
	}
	if r.br != nil {
		return r.br.ReadByte()
	}
	for {
		n, err := r.conn.Read(r.one[:])
		if n == 1 {
			return r.one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// Read reads into p through the buffer.
func (r *packetReader) Read(p []byte) (int, error) {
	if r.pending && len(p) > 0 {
		r.pending = false
		p[0] = r.one[0]
		return 1, nil
	}
	return r.buffer().Read(p)
}

var _ io.ByteReader = (*packetReader)(nil)
