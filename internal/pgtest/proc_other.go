//go:build !unix

package pgtest

import "syscall"

// sysProcAttr cannot switch users here; Postgres's refusal to run as an
// administrator is reported by initdb itself.
func sysProcAttr(*credential) *syscall.SysProcAttr { return nil }

// processAlive cannot tell here, so sweep never removes anything.
func processAlive(int) bool { return true }
