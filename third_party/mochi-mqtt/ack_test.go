package mqtt

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Fork: a PUBACK carries its reason code whenever it is not Success
// (MQTT v5 §3.4.2.1), and a plain QoS 1 PUBACK is Success, in the
// shortest form. Upstream wrote a code below 0x80 only beside properties,
// so PUBACK 0x10 (No matching subscribers) went out as Success, and it
// built the PUBACK of a QoS 1 publish with 0x01 ("granted QoS 1"), which
// is no PUBACK reason code.
func TestAckReasonCodes(t *testing.T) {
	s := newServer()
	defer s.Close()
	encode := func(pk packets.Packet) []byte {
		pk.ProtocolVersion = 5
		var b bytes.Buffer
		require.NoError(t, pk.PubackEncode(&b))
		return b.Bytes()
	}
	require.Equal(t, []byte{0x40, 2, 0, 7}, encode(s.buildAck(7, packets.Puback, 0, packets.CodeSuccess)))
	noSubs := encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 7, ReasonCode: packets.CodeNoMatchingSubscribers.Code})
	require.Equal(t, []byte{0x40, 3, 0, 7, 0x10}, noSubs)

	cl, r, _ := newTestClient()
	cl.Properties.ProtocolVersion = 5
	cl.State.Inflight.ResetReceiveQuota(10)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 64)
		n, _ := r.Read(buf)
		got <- buf[:n]
	}()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 9, TopicName: "a", Payload: []byte("x")}
	require.NoError(t, s.processPublish(cl, &pk))
	require.Equal(t, []byte{0x40, 2, 0, 9}, <-got, "the PUBACK of a QoS 1 publish")
}
