package controlplane

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// The store keeps each node's clients of one broker in a compact binary
// form rather than JSON: a console page of a broker with 10,000 clients
// decodes them all (to sort, search and count them) at each refresh,
// and decoding JSON took most of that request's time.
//
// Layout: the version byte, the number of clients, then each client:
// client id, jti, transport, remote address (each a length and the
// bytes), connected-at (Unix nanoseconds, zig-zag), the number of listed
// subscriptions and each of them, subscribed, inflight, a flags byte
// (bit 0: counters follow) and messages in and out. Lengths and counts
// are unsigned varints.
const clientsCodecVersion = 1

// encodeClients encodes list, whose clients all belong to one broker.
func encodeClients(list []clients.Client) []byte {
	b := make([]byte, 0, 64*len(list)+16)
	b = append(b, clientsCodecVersion)
	b = binary.AppendUvarint(b, uint64(len(list)))
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for i := range list {
		c := &list[i]
		str(c.ClientID)
		str(c.JTI)
		str(c.Transport)
		str(c.Remote)
		b = binary.AppendVarint(b, c.ConnectedAt.UnixNano())
		b = binary.AppendUvarint(b, uint64(len(c.Subscriptions)))
		for _, f := range c.Subscriptions {
			str(f)
		}
		b = binary.AppendUvarint(b, uint64(max(c.Subscribed, 0)))
		b = binary.AppendUvarint(b, uint64(max(c.Inflight, 0)))
		if c.MessagesIn != nil && c.MessagesOut != nil {
			b = append(b, 1)
			b = binary.AppendVarint(b, *c.MessagesIn)
			b = binary.AppendVarint(b, *c.MessagesOut)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

var errClientsCodec = errors.New("corrupt clients record")

// decodeClients decodes what encodeClients encoded, setting each
// client's BrokerID to brokerID. The strings share one copy of raw.
func decodeClients(raw []byte, brokerID string) ([]clients.Client, error) {
	if len(raw) == 0 || raw[0] != clientsCodecVersion {
		return nil, errClientsCodec
	}
	all := string(raw) // one allocation for every string below
	pos := 1
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(raw[pos:])
		if n <= 0 {
			return 0, false
		}
		pos += n
		return v, true
	}
	varint := func() (int64, bool) {
		v, n := binary.Varint(raw[pos:])
		if n <= 0 {
			return 0, false
		}
		pos += n
		return v, true
	}
	str := func() (string, bool) {
		l, ok := uvarint()
		if !ok || l > uint64(len(raw)-pos) {
			return "", false
		}
		s := all[pos : pos+int(l)]
		pos += int(l)
		return s, true
	}
	n, ok := uvarint()
	if !ok || n > uint64(len(raw)) { // each client takes a byte at least
		return nil, errClientsCodec
	}
	list := make([]clients.Client, n)
	for i := range list {
		c := &list[i]
		c.BrokerID = brokerID
		var ok1, ok2, ok3, ok4, ok5 bool
		c.ClientID, ok1 = str()
		c.JTI, ok2 = str()
		c.Transport, ok3 = str()
		c.Remote, ok4 = str()
		at, ok5 := varint()
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return nil, errClientsCodec
		}
		c.ConnectedAt = time.Unix(0, at).UTC()
		subs, ok := uvarint()
		if !ok || subs > uint64(len(raw)-pos) {
			return nil, errClientsCodec
		}
		c.Subscriptions = make([]string, subs)
		for j := range c.Subscriptions {
			if c.Subscriptions[j], ok = str(); !ok {
				return nil, errClientsCodec
			}
		}
		subscribed, ok1 := uvarint()
		inflight, ok2 := uvarint()
		if !ok1 || !ok2 || subscribed > math.MaxInt32 || inflight > math.MaxInt32 || pos >= len(raw) {
			return nil, errClientsCodec
		}
		c.Subscribed, c.Inflight = int(subscribed), int(inflight)
		flags := raw[pos]
		pos++
		if flags&1 != 0 {
			in, ok1 := varint()
			out, ok2 := varint()
			if !ok1 || !ok2 {
				return nil, errClientsCodec
			}
			c.MessagesIn, c.MessagesOut = &in, &out
		}
	}
	if pos != len(raw) {
		return nil, errClientsCodec
	}
	return list, nil
}
