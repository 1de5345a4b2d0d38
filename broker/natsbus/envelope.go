package natsbus

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// The envelope is the body of a NATS message: what MQTT says about the
// message, then its payload. One compact binary header, rather than NATS
// headers, because those are text parsed into a map for every message
// received; the topic itself is the subject.
//
//	version    1 byte (envelopeVersion)
//	flags      1 byte (flagRetain, flagExpiry, flagUTF8, flagProps)
//	qos        1 byte
//	seq        8 bytes, big-endian: the publishing node's sequence number
//	           of the broker's messages, for duplicate suppression
//	origin     1-byte length + the publishing node's id
//	client id  uvarint length + bytes: the publisher, for No Local
//	expiry     uvarint seconds left, when flagExpiry
//	properties when flagProps: content type, response topic, correlation
//	           data (each uvarint length + bytes), a uvarint count of user
//	           properties, then each key and value the same way
//	payload    the rest

const envelopeVersion = 1

const (
	flagRetain = 1 << iota
	flagExpiry
	flagUTF8 // MQTT Payload Format Indicator 1
	flagProps
)

// seqOffset is where the sequence number sits, patched in once the
// publisher holds the link's order.
const seqOffset = 3

var errEnvelope = errors.New("natsbus: malformed message envelope")

// appendEnvelope appends the envelope of m, with a zero sequence number.
func appendEnvelope(b []byte, origin string, m *broker.Message, now time.Time) []byte {
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	var left int64
	if !m.Expiry.IsZero() {
		flags |= flagExpiry
		left = max(1, int64((m.Expiry.Sub(now)+time.Second-1)/time.Second))
	}
	if m.PayloadFormat == 1 {
		flags |= flagUTF8
	}
	props := m.ContentType != "" || m.ResponseTopic != "" || len(m.CorrelationData) > 0 || len(m.UserProperties) > 0
	if props {
		flags |= flagProps
	}
	b = append(b, envelopeVersion, flags, m.QoS, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, byte(len(origin)))
	b = append(b, origin...)
	b = appendString(b, m.ClientID)
	if flags&flagExpiry != 0 {
		b = binary.AppendUvarint(b, uint64(left))
	}
	if props {
		b = appendString(b, m.ContentType)
		b = appendString(b, m.ResponseTopic)
		b = appendString(b, string(m.CorrelationData))
		b = binary.AppendUvarint(b, uint64(len(m.UserProperties)))
		for _, u := range m.UserProperties {
			b = appendString(b, u[0])
			b = appendString(b, u[1])
		}
	}
	return append(b, m.Payload...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// envelope is a decoded envelope; its slices share the message's body.
type envelope struct {
	seq    uint64
	origin []byte
	m      broker.Message
}

// decodeEnvelope reads an envelope; the message's topic and broker are
// left for the caller to fill in.
func decodeEnvelope(b []byte, now time.Time) (*envelope, error) {
	if len(b) < seqOffset+9 || b[0] != envelopeVersion {
		return nil, errEnvelope
	}
	flags, qos := b[1], b[2]
	if qos > 2 {
		return nil, errEnvelope
	}
	e := &envelope{seq: binary.BigEndian.Uint64(b[seqOffset:])}
	r := reader{b: b[seqOffset+8:]}
	e.origin = r.bytes(int(r.byte()))
	e.m.ClientID = string(r.field())
	e.m.QoS, e.m.Retain = qos, flags&flagRetain != 0
	if flags&flagExpiry != 0 {
		left := r.uvarint()
		if left > 1<<32 {
			left = 1 << 32
		}
		e.m.Expiry = now.Add(time.Duration(left) * time.Second)
	}
	if flags&flagUTF8 != 0 {
		e.m.PayloadFormat = 1
	}
	if flags&flagProps != 0 {
		e.m.ContentType = string(r.field())
		e.m.ResponseTopic = string(r.field())
		if cd := r.field(); len(cd) > 0 {
			e.m.CorrelationData = cd
		}
		n := r.uvarint()
		if n > uint64(len(r.b)) { // each pair takes two bytes at least
			return nil, errEnvelope
		}
		for range n {
			k, v := r.field(), r.field()
			e.m.UserProperties = append(e.m.UserProperties, [2]string{string(k), string(v)})
		}
	}
	if r.bad {
		return nil, errEnvelope
	}
	e.m.Payload = r.b
	return e, nil
}

// reader reads an envelope's fields; past a problem it reads nothing and
// remembers it.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) field() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	return r.bytes(int(n))
}
