//go:build unix

package pgtest

import (
	"errors"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: as ourselves) and, where the OS
// can, stops it when the test binary dies, so that a crashed or timed-out
// test run leaves no postgres behind.
func sysProcAttr(cred *credential) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	if cred != nil {
		// No supplementary groups: a child started by root must not keep root's.
		a.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid, Groups: []uint32{}}
	}
	setParentDeathSignal(a)
	return a
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
