// SPDX-License-Identifier: MIT
// Fork of mochi-mqtt v2.7.9: see FORK.md.

//go:build !linux

package mqtt

// IdleSessions returns 0: outside Linux, sessions are not detached while
// idle (see Server.ServeConnection).
func IdleSessions() int { return 0 }

func (ss *session) park() bool { return false }

func (cl *Client) unpark() {}
