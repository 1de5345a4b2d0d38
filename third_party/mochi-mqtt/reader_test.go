// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

package mqtt

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPacketReaderHoldsBufferOnlyWithUnreadBytes(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	r := newPacketReader(server, 16)

	go func() { _, _ = client.Write([]byte{1, 2, 3, 4}) }()
	b, err := r.ReadByte() // no buffer: read on its own
	require.NoError(t, err)
	require.Equal(t, byte(1), b)
	require.Nil(t, r.br)

	p := make([]byte, 3)
	_, err = io.ReadFull(r, p) // the rest through a buffer
	require.NoError(t, err)
	require.Equal(t, []byte{2, 3, 4}, p)
	require.NotNil(t, r.br)
	require.True(t, r.release(), "nothing left to read")
	require.Nil(t, r.br, "the buffer went back to the pool")

	go func() { _, _ = client.Write([]byte{5, 6, 7}) }()
	require.NoError(t, r.prefetch())
	require.False(t, r.release(), "a prefetched byte is unread")
	p = make([]byte, 3)
	_, err = io.ReadFull(r, p)
	require.NoError(t, err)
	require.Equal(t, []byte{5, 6, 7}, p)
	require.Equal(t, 0, r.br.Buffered())
}
