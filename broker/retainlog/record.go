package retainlog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// The operations a record holds.
const (
	opPut          byte = 1 // the retained message of a topic
	opDelete       byte = 2 // a topic has no retained message any more
	opDeleteBroker byte = 3 // a broker and all its retained messages are gone
)

// errCorrupt reports a record body that does not decode.
var errCorrupt = errors.New("corrupt record")

// record is a decoded record body.
type record struct {
	op       byte
	brokerID string
	topic    string
	expiry   int64
	msg      *broker.Message // only for opPut, when decoded in full
}

// encodeRecord returns the whole record (header included) for op on m.
// The body is: op, broker id, topic, then for opPut the expiry (Unix
// nanoseconds, 0 for never), publisher client id, content type, payload
// format, response topic, correlation data, user properties, payload and
// QoS. Strings and byte strings are a uvarint length followed by the
// bytes. Records written before the QoS byte end with the payload, and
// read as QoS 0, as they were delivered then.
func encodeRecord(op byte, m *broker.Message) []byte {
	b := make([]byte, 8, 64+len(m.Payload)+len(m.Topic))
	b = append(b, op)
	b = appendString(b, m.BrokerID)
	b = appendString(b, m.Topic)
	if op == opPut {
		var exp int64
		if !m.Expiry.IsZero() {
			exp = m.Expiry.UnixNano()
		}
		b = binary.AppendVarint(b, exp)
		b = appendString(b, m.ClientID)
		b = appendString(b, m.ContentType)
		b = append(b, m.PayloadFormat)
		b = appendString(b, m.ResponseTopic)
		b = appendString(b, string(m.CorrelationData))
		b = binary.AppendUvarint(b, uint64(len(m.UserProperties)))
		for _, p := range m.UserProperties {
			b = appendString(b, p[0])
			b = appendString(b, p[1])
		}
		b = appendString(b, string(m.Payload))
		b = append(b, m.QoS)
	}
	body := b[8:]
	binary.BigEndian.PutUint32(b[:4], uint32(len(body)))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(body, crcTable))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord decodes a record body. With full unset, only the fields
// the index needs are read.
func decodeRecord(body []byte, full bool) (*record, error) {
	d := decoder{b: body}
	r := &record{op: d.byte(), brokerID: d.str(), topic: d.str()}
	switch r.op {
	case opPut:
		r.expiry = d.varint()
		if full {
			m := &broker.Message{BrokerID: r.brokerID, Topic: r.topic, Retain: true}
			if r.expiry != 0 {
				m.Expiry = time.Unix(0, r.expiry)
			}
			m.ClientID = d.str()
			m.ContentType = d.str()
			m.PayloadFormat = d.byte()
			m.ResponseTopic = d.str()
			if c := d.str(); c != "" {
				m.CorrelationData = []byte(c)
			}
			n := d.uvarint()
			if n > uint64(len(body)) {
				return nil, errCorrupt
			}
			for range n {
				m.UserProperties = append(m.UserProperties, [2]string{d.str(), d.str()})
			}
			m.Payload = []byte(d.str())
			if d.off < len(body) {
				m.QoS = d.byte()
			}
			r.msg = m
			if d.off != len(body) || m.QoS > 2 {
				d.bad = true
			}
		}
	case opDelete:
		if d.off != len(body) {
			d.bad = true
		}
	case opDeleteBroker:
		if r.topic != "" || d.off != len(body) {
			d.bad = true
		}
	default:
		d.bad = true
	}
	if d.bad || r.brokerID == "" || (r.op != opDeleteBroker && r.topic == "") {
		return nil, errCorrupt
	}
	return r, nil
}

// decoder reads the fields of a record body; after the first bad read,
// it is bad and returns zero values.
type decoder struct {
	b   []byte
	off int
	bad bool
}

func (d *decoder) byte() byte {
	if d.bad || d.off >= len(d.b) {
		d.bad = true
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.bad {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)-d.off) {
		d.bad = true
		return ""
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}
