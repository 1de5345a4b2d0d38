// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

package mqtt

import (
	"net"
	"syscall"
)

// rawConnOf finds the socket under c, through the NetConn methods of
// wrappers such as *tls.Conn, or returns nil.
func rawConnOf(c net.Conn) syscall.RawConn {
	for i := 0; i < 8; i++ {
		if sc, ok := c.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			return rc
		}
		w, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = w.NetConn()
	}
	return nil
}

// waitReadable parks until the socket has something to read (or has
// ended), without reading it. It fails like a read would: on the read
// deadline, or once the connection is closed.
func waitReadable(rc syscall.RawConn) error {
	var b [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}
