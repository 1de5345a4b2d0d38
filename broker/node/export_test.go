package node

import "time"

// SetEstablishedDelay makes the fleet hook's OnSessionEstablished wait d
// (a node slow after a CONNACK), until it is called again with 0.
func SetEstablishedDelay(d time.Duration) { establishedDelay.Store(int64(d)) }

// SetSessionLease sets how long a connected client's stored session
// outlives its node (renewed every half), for servers started after it.
func SetSessionLease(d time.Duration) { sessionLease.Store(int64(d)) }
