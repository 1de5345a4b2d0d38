// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

//go:build !linux

package mqtt

import (
	"net"
	"syscall"
)

// rawConnOf returns nil: outside Linux, sessions are not detached while
// idle (see Server.ServeConnection).
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func waitReadable(syscall.RawConn) error { return nil }
