package node

import (
	"os"
	"syscall"
)

// fileDescriptors counts the process's open file descriptors in
// /proc/self/fd and reads its limit (Linux; fd_other.go elsewhere).
func fileDescriptors() (open, max int64, ok bool) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, false
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, false
	}
	return int64(len(entries)), int64(lim.Cur), true
}
