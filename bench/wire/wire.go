// Package wire encodes and decodes the few MQTT v5 packets the load tool
// sends and reads. It exists because a general client (paho) costs a
// goroutine set, a packet struct and several allocations per message and
// per connection, which at 10,000 clients on two shared cores would
// measure the load generator rather than the broker. Encoders append to a
// caller's buffer; the reader reuses one buffer per connection; nothing
// allocates per packet.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// Control packet types (MQTT v5 §2.1.2).
const (
	Connect    byte = 1
	Connack    byte = 2
	Publish    byte = 3
	Puback     byte = 4
	Subscribe  byte = 8
	Suback     byte = 9
	Pingreq    byte = 12
	Pingresp   byte = 13
	Disconnect byte = 14
)

// MaxRemaining is the largest remaining length a fixed header can carry.
const MaxRemaining = 268_435_455

// Errors of the decoders.
var (
	ErrMalformed = errors.New("wire: malformed packet")
	ErrTooLarge  = errors.New("wire: packet larger than the read limit")
)

// AppendVarint appends n as a variable byte integer (§1.5.5).
func AppendVarint(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

// VarintLen returns how many bytes AppendVarint writes for n.
func VarintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// ConnectOptions are the fields of a CONNECT the load tool sets.
type ConnectOptions struct {
	ClientID  string
	Username  string // sent when not empty
	Password  string // sent when not empty
	KeepAlive uint16 // seconds; 0 asks for none
	// ReceiveMaximum, when not zero, is sent as the Receive Maximum
	// property: how many QoS 1 deliveries the server may have unacked.
	ReceiveMaximum uint16
}

// AppendConnect appends a clean-start MQTT v5 CONNECT.
func AppendConnect(dst []byte, o ConnectOptions) []byte {
	var props []byte
	if o.ReceiveMaximum != 0 {
		props = binary.BigEndian.AppendUint16([]byte{0x21}, o.ReceiveMaximum)
	}
	flags := byte(0x02) // clean start
	n := 2 + 4 + 1 + 1 + 2 + VarintLen(len(props)) + len(props) + 2 + len(o.ClientID)
	if o.Username != "" {
		flags |= 0x80
		n += 2 + len(o.Username)
	}
	if o.Password != "" {
		flags |= 0x40
		n += 2 + len(o.Password)
	}
	dst = append(dst, Connect<<4)
	dst = AppendVarint(dst, n)
	dst = appendString(dst, "MQTT")
	dst = append(dst, 5, flags)
	dst = binary.BigEndian.AppendUint16(dst, o.KeepAlive)
	dst = AppendVarint(dst, len(props))
	dst = append(dst, props...)
	dst = appendString(dst, o.ClientID)
	if o.Username != "" {
		dst = appendString(dst, o.Username)
	}
	if o.Password != "" {
		dst = appendString(dst, o.Password)
	}
	return dst
}

// AppendSubscribe appends a SUBSCRIBE of one filter at the given QoS.
func AppendSubscribe(dst []byte, packetID uint16, filter string, qos byte) []byte {
	n := 2 + 1 + 2 + len(filter) + 1
	dst = append(dst, Subscribe<<4|0x02)
	dst = AppendVarint(dst, n)
	dst = binary.BigEndian.AppendUint16(dst, packetID)
	dst = append(dst, 0) // no properties
	dst = appendString(dst, filter)
	return append(dst, qos&0x03)
}

// PublishHeaderLen returns the length of a PUBLISH packet up to its
// payload, for a topic and QoS: fixed header, topic, packet id, and an
// empty property list.
func PublishHeaderLen(topic string, qos byte, payloadLen int) int {
	rem := publishRemaining(topic, qos, payloadLen)
	return 1 + VarintLen(rem) + rem - payloadLen
}

func publishRemaining(topic string, qos byte, payloadLen int) int {
	n := 2 + len(topic) + 1 + payloadLen
	if qos > 0 {
		n += 2
	}
	return n
}

// AppendPublish appends a PUBLISH. The packet id is ignored at QoS 0.
func AppendPublish(dst []byte, topic string, qos byte, packetID uint16, payload []byte) []byte {
	dst = append(dst, Publish<<4|(qos&0x03)<<1)
	dst = AppendVarint(dst, publishRemaining(topic, qos, len(payload)))
	dst = appendString(dst, topic)
	if qos > 0 {
		dst = binary.BigEndian.AppendUint16(dst, packetID)
	}
	dst = append(dst, 0) // no properties
	return append(dst, payload...)
}

// AppendPuback appends a successful PUBACK in its short form (§3.4.2.1).
func AppendPuback(dst []byte, packetID uint16) []byte {
	dst = append(dst, Puback<<4, 2)
	return binary.BigEndian.AppendUint16(dst, packetID)
}

// AppendDisconnect appends a DISCONNECT with reason 0x00 in its short form.
func AppendDisconnect(dst []byte) []byte { return append(dst, Disconnect<<4, 0) }

// AppendPingreq appends a PINGREQ.
func AppendPingreq(dst []byte) []byte { return append(dst, Pingreq<<4, 0) }

// Reader reads whole packets from a buffered stream into one reused
// buffer.
type Reader struct {
	R   *bufio.Reader
	Max int // largest remaining length accepted
	buf []byte
}

// Next reads one packet and returns its type, the flags of its first byte
// and its body. The body is valid until the next call.
func (r *Reader) Next() (typ, flags byte, body []byte, err error) {
	b, err := r.R.ReadByte()
	if err != nil {
		return 0, 0, nil, err
	}
	n, shift := 0, 0
	for i := 0; ; i++ {
		if i == 4 {
			return 0, 0, nil, ErrMalformed
		}
		c, err := r.R.ReadByte()
		if err != nil {
			return 0, 0, nil, noEOF(err)
		}
		n |= int(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			break
		}
	}
	if r.Max > 0 && n > r.Max {
		return 0, 0, nil, ErrTooLarge
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	body = r.buf[:n]
	if _, err := io.ReadFull(r.R, body); err != nil {
		return 0, 0, nil, noEOF(err)
	}
	return b >> 4, b & 0x0f, body, nil
}

// noEOF turns an EOF inside a packet into ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// PublishInfo is what the load tool needs of a PUBLISH.
type PublishInfo struct {
	Topic    []byte // a sub-slice of the body
	QoS      byte
	PacketID uint16
	Payload  []byte // a sub-slice of the body
}

// ParsePublish parses the body of a PUBLISH with the given flags.
func ParsePublish(flags byte, body []byte) (PublishInfo, error) {
	var p PublishInfo
	p.QoS = flags >> 1 & 0x03
	if len(body) < 2 {
		return p, ErrMalformed
	}
	tl := int(binary.BigEndian.Uint16(body))
	off := 2 + tl
	if off > len(body) {
		return p, ErrMalformed
	}
	p.Topic = body[2:off]
	if p.QoS > 0 {
		if off+2 > len(body) {
			return p, ErrMalformed
		}
		p.PacketID = binary.BigEndian.Uint16(body[off:])
		off += 2
	}
	pl, n := varint(body[off:])
	if n == 0 || off+n+pl > len(body) {
		return p, ErrMalformed
	}
	off += n + pl
	p.Payload = body[off:]
	return p, nil
}

// ConnackInfo is what the load tool needs of a CONNACK.
type ConnackInfo struct {
	Reason         byte
	ReceiveMaximum uint16 // 65535 when the server sent none (§3.2.2.3.3)
}

// ParseConnack parses the body of a CONNACK.
func ParseConnack(body []byte) (ConnackInfo, error) {
	c := ConnackInfo{ReceiveMaximum: 65535}
	if len(body) < 2 {
		return c, ErrMalformed
	}
	c.Reason = body[1]
	if len(body) == 2 {
		return c, nil
	}
	pl, n := varint(body[2:])
	if n == 0 || 2+n+pl > len(body) {
		return c, ErrMalformed
	}
	props := body[2+n : 2+n+pl]
	for len(props) > 0 {
		id := props[0]
		props = props[1:]
		var skip int
		switch id {
		case 0x21: // Receive Maximum
			if len(props) < 2 {
				return c, ErrMalformed
			}
			c.ReceiveMaximum = binary.BigEndian.Uint16(props)
			skip = 2
		case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A: // byte properties
			skip = 1
		case 0x13, 0x22: // two-byte integers
			skip = 2
		case 0x02, 0x11, 0x27: // four-byte integers
			skip = 4
		case 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F: // strings and binary data
			if len(props) < 2 {
				return c, ErrMalformed
			}
			skip = 2 + int(binary.BigEndian.Uint16(props))
		case 0x26: // user property: two strings
			if len(props) < 2 {
				return c, ErrMalformed
			}
			k := 2 + int(binary.BigEndian.Uint16(props))
			if k+2 > len(props) {
				return c, ErrMalformed
			}
			skip = k + 2 + int(binary.BigEndian.Uint16(props[k:]))
		default:
			return c, ErrMalformed
		}
		if skip > len(props) {
			return c, ErrMalformed
		}
		props = props[skip:]
	}
	return c, nil
}

// SubackReasons returns the reason codes of a SUBACK body.
func SubackReasons(body []byte) ([]byte, error) {
	if len(body) < 3 {
		return nil, ErrMalformed
	}
	pl, n := varint(body[2:])
	if n == 0 || 2+n+pl > len(body) {
		return nil, ErrMalformed
	}
	return body[2+n+pl:], nil
}

// DisconnectReason returns the reason code of a DISCONNECT body; an
// empty body means 0x00.
func DisconnectReason(body []byte) byte {
	if len(body) == 0 {
		return 0
	}
	return body[0]
}

// AckPacketID returns the packet id of a PUBACK or SUBACK body.
func AckPacketID(body []byte) (uint16, error) {
	if len(body) < 2 {
		return 0, ErrMalformed
	}
	return binary.BigEndian.Uint16(body), nil
}

// varint decodes a variable byte integer, returning its value and length;
// a length of 0 means malformed.
func varint(b []byte) (int, int) {
	v := 0
	for i := 0; i < 4 && i < len(b); i++ {
		v |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
