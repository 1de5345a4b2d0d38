package wire

import "encoding/binary"

// The payload of a load-tool message starts with a stamp: the publisher's
// wall clock in Unix nanoseconds when the packet was encoded, then the
// message's sequence number on its publisher. The rest is filler. Every
// process on one machine reads the same CLOCK_REALTIME, so a subscriber in
// another process subtracts the stamp from its own clock to get the
// publish-to-deliver latency.

// StampLen is the size of the stamp at the start of a payload.
const StampLen = 16

// PutStamp writes the stamp into the start of payload, which must be at
// least StampLen bytes.
func PutStamp(payload []byte, unixNano int64, seq uint64) {
	binary.BigEndian.PutUint64(payload, uint64(unixNano))
	binary.BigEndian.PutUint64(payload[8:], seq)
}

// Stamp reads the stamp of a payload; ok is false when it is too short
// to hold one.
func Stamp(payload []byte) (unixNano int64, seq uint64, ok bool) {
	if len(payload) < StampLen {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(payload)), binary.BigEndian.Uint64(payload[8:]), true
}
