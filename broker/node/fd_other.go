//go:build !linux

package node

// fileDescriptors is not measured outside Linux.
func fileDescriptors() (open, max int64, ok bool) { return 0, 0, false }
