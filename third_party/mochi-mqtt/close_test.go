// SPDX-License-Identifier: MIT

package mqtt

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCloseConnWithoutReset closes a TCP connection whose peer has sent
// bytes the server never read: the peer must read what was written before
// the close, then EOF, not a reset (fork: upstream closed at once, and the
// kernel answered the unread bytes with a reset).
func TestCloseConnWithoutReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer peer.Close()
	srv, err := ln.Accept()
	require.NoError(t, err)

	_, err = peer.Write(make([]byte, 64<<10)) // unread by the server
	require.NoError(t, err)
	_, err = srv.Write([]byte("bye"))
	require.NoError(t, err)
	// The unread bytes must have arrived before the close for a plain
	// close to reset; the server reads one to know they have.
	_, err = io.ReadFull(srv, make([]byte, 1))
	require.NoError(t, err)
	closed := closeConn(srv)

	require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
	got, err := io.ReadAll(peer)
	require.NoError(t, err, "the peer must see EOF, not a reset")
	require.Equal(t, "bye", string(got))

	// Once the peer closes too, the drain ends and the server's side is
	// closed.
	require.NoError(t, peer.Close())
	<-closed
	_, err = srv.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestCloseConnWithoutSocket closes a connection that cannot be half
// closed (net.Pipe) at once.
func TestCloseConnWithoutSocket(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	<-closeConn(a)
	_, err := a.Write([]byte("x"))
	require.ErrorIs(t, err, io.ErrClosedPipe)
}
