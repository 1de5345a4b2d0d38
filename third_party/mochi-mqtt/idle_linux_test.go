// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

package mqtt

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// idleConnect is a v5 CONNECT with clean start, keep-alive 1 s and the
// client id c<n>.
func idleConnect(n byte) []byte {
	return []byte{0x10, 15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 1, 0, 0, 2, 'c', '0' + n}
}

// waitersRunning counts goroutines parked in the per-session waiter that
// the idle poller replaced.
func waitersRunning() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("mqtt/server/v2.waitReadable("))
}

// TestIdlePoller serves sessions over real sockets with a 20 ms linger:
// an idle session is parked in the poller with no goroutine of its own,
// wakes for a packet, and ends when its keep-alive passes, when it is
// stopped, and when its client closes the socket, each as a read would
// have ended it.
func TestIdlePoller(t *testing.T) {
	s := New(&Options{Logger: logger, Capabilities: NewDefaultServerCapabilities(), IdleSessionLinger: 20 * time.Millisecond})
	require.NoError(t, s.AddHook(new(AllowHook), nil))
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()

	open := func(t *testing.T, n byte) (net.Conn, chan error) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		sc, err := ln.Accept()
		require.NoError(t, err)
		done := make(chan error, 1)
		go s.ServeConnection("t", sc, func(err error) { done <- err })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write(idleConnect(n))
		require.NoError(t, err)
		ack := make([]byte, 2)
		_, err = io.ReadFull(c, ack)
		require.NoError(t, err)
		require.Equal(t, byte(0x20), ack[0], "CONNACK")
		rest := make([]byte, ack[1])
		_, err = io.ReadFull(c, rest)
		require.NoError(t, err)
		require.Equal(t, byte(0), rest[1], "CONNACK reason code")
		return c, done
	}
	parked := func(t *testing.T, want int) {
		t.Helper()
		require.Eventually(t, func() bool { return IdleSessions() == want }, 5*time.Second, time.Millisecond)
		require.Zero(t, waitersRunning(), "goroutines waiting for idle sessions")
	}
	ended := func(t *testing.T, done chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("the session did not end")
			return nil
		}
	}

	t.Run("WakesForAPacket", func(t *testing.T) {
		c, done := open(t, 1)
		parked(t, 1)
		for range 3 {
			_, err := c.Write([]byte{0xC0, 0}) // PINGREQ
			require.NoError(t, err)
			resp := make([]byte, 2)
			_, err = io.ReadFull(c, resp)
			require.NoError(t, err)
			require.Equal(t, []byte{0xD0, 0}, resp, "PINGRESP")
			parked(t, 1)
		}
		// Then its keep-alive (1 s, so 1.5 s, plus a second of slack) passes.
		start := time.Now()
		err := ended(t, done)
		require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "ended with %v", err)
		require.Greater(t, time.Since(start), time.Second)
		parked(t, 0)
	})
	t.Run("Stopped", func(t *testing.T) {
		_, done := open(t, 2)
		parked(t, 1)
		cl, ok := s.Clients.Get("c2")
		require.True(t, ok)
		cl.Stop(errors.New("stopped"))
		require.NoError(t, ended(t, done))
		parked(t, 0)
	})
	t.Run("ClientClosed", func(t *testing.T) {
		c, done := open(t, 3)
		parked(t, 1)
		require.NoError(t, c.Close())
		require.Error(t, ended(t, done))
		parked(t, 0)
	})
}
