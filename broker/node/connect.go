package node

import (
	"errors"
	"io"
)

// The first packet of a connection without TLS SNI is read by the node
// itself, to find the broker from the token's audience before any broker's
// server sees the connection. This file holds that bounded reader and a
// parser that extracts only what routing needs; mochi parses the packet
// again, in full, when the connection is replayed into it.

var (
	errMalformed  = errors.New("malformed packet")
	errNotConnect = errors.New("the first packet is not CONNECT")
	errTooLarge   = errors.New("packet too large")
)

// MQTT control packet types, as the high nibble of the first byte.
const (
	typeConnect    = 1
	typeConnack    = 2
	typePublish    = 3
	typeDisconnect = 14
)

// readConnect reads the first packet of a connection, which must be a
// CONNECT of at most max bytes, and returns it whole, fixed header
// included. It reads exactly one packet and nothing after it.
func readConnect(r io.Reader, max uint32) ([]byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return nil, err
	}
	if hdr[0] != typeConnect<<4 {
		return nil, errNotConnect
	}
	n, length := 1, 0
	for shift := 0; ; shift += 7 {
		if n == len(hdr) {
			return nil, errMalformed // a remaining length has at most 4 bytes
		}
		if _, err := io.ReadFull(r, hdr[n:n+1]); err != nil {
			return nil, err
		}
		b := hdr[n]
		n++
		length |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
	}
	if uint64(n)+uint64(length) > uint64(max) {
		return nil, errTooLarge
	}
	pkt := make([]byte, n+length)
	copy(pkt, hdr[:n])
	if _, err := io.ReadFull(r, pkt[n:]); err != nil {
		return nil, err
	}
	return pkt, nil
}

// connectInfo is what routing needs from a CONNECT packet.
type connectInfo struct {
	// Version is the protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5.
	Version byte
	// Password is the password field, a sub-slice of the packet; nil when
	// the password flag is clear. It is only parsed for version 5.
	Password []byte
}

// parseConnect parses a whole CONNECT packet as readConnect returns it. It
// checks the structure MQTT v5 §3.1 gives the packet, without judging the
// contents of the fields, and never allocates.
func parseConnect(pkt []byte) (connectInfo, error) {
	r := cursor{b: pkt}
	if r.byte() != typeConnect<<4 {
		return connectInfo{}, errNotConnect
	}
	if n := r.varint(); r.bad || n != len(pkt)-r.off {
		return connectInfo{}, errMalformed
	}
	name, version := r.bytes(), r.byte()
	switch {
	case r.bad:
		return connectInfo{}, errMalformed
	case string(name) == "MQIsdp" && version == 3, string(name) == "MQTT" && version == 4:
		return connectInfo{Version: version}, nil
	case string(name) != "MQTT" || version != 5:
		return connectInfo{}, errMalformed
	}
	info := connectInfo{Version: version}
	flags := r.byte()
	r.skip(2)            // keep alive
	r.skip(r.varint())   // properties
	r.bytes()            // client id
	if flags&0x01 != 0 { // reserved
		return connectInfo{}, errMalformed
	}
	if flags&0x04 != 0 { // will flag
		r.skip(r.varint()) // will properties
		r.bytes()          // will topic
		r.bytes()          // will payload
	}
	if flags&0x80 != 0 { // user name flag
		r.bytes()
	}
	if flags&0x40 != 0 { // password flag
		info.Password = r.bytes()
		if info.Password == nil {
			info.Password = []byte{}
		}
	}
	if r.bad || r.off != len(pkt) {
		return connectInfo{}, errMalformed
	}
	return info, nil
}

// cursor reads MQTT data types from a byte slice. After the first read
// past the end it is bad, and every further read returns zero values.
type cursor struct {
	b   []byte
	off int
	bad bool
}

func (c *cursor) byte() byte {
	if c.bad || c.off >= len(c.b) {
		c.bad = true
		return 0
	}
	c.off++
	return c.b[c.off-1]
}

func (c *cursor) skip(n int) {
	if c.bad || n < 0 || n > len(c.b)-c.off {
		c.bad = true
		return
	}
	c.off += n
}

// bytes reads binary data or a string: a two-byte length, then the data.
func (c *cursor) bytes() []byte {
	n := int(c.byte())<<8 | int(c.byte())
	start := c.off
	c.skip(n)
	if c.bad {
		return nil
	}
	return c.b[start:c.off:c.off]
}

// varint reads a variable byte integer of at most four bytes.
func (c *cursor) varint() int {
	v := 0
	for i := 0; i < 4; i++ {
		b := c.byte()
		v |= int(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v
		}
	}
	c.bad = true
	return 0
}

// v3ReturnCodes are the MQTT 3.1.1 CONNACK return codes that say what a
// v5 reason code says, for a 3.x client, which cannot read v5 codes.
var v3ReturnCodes = map[byte]byte{
	0x84: 0x01, // unacceptable protocol version
	0x85: 0x02, // identifier rejected
	0x88: 0x03, // server unavailable
	0x86: 0x04, // bad user name or password
	0x87: 0x05, // not authorized
}

// connackPacket encodes a refusing CONNACK with a v5 reason code, for a
// client the node answers itself, before any broker's server has the
// connection. For MQTT 3.x the 3.1.1 form is used, with the return code
// that says the same.
func connackPacket(version, code byte, reason string) []byte {
	if version != 5 {
		rc, ok := v3ReturnCodes[code]
		if !ok {
			rc = 0x03
		}
		return []byte{typeConnack << 4, 2, 0, rc}
	}
	if len(reason) > 100 { // keeps both lengths below 128, one byte each
		reason = reason[:100]
	}
	props := append([]byte{0x1F, 0, byte(len(reason))}, reason...) // Reason String
	body := append([]byte{0, code, byte(len(props))}, props...)
	return append([]byte{typeConnack << 4, byte(len(body))}, body...)
}
