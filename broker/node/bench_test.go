package node

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// newTestClient returns a mochi client whose connection is c, as the
// hook sees clients.
func newTestClient(c *conn) *mqtt.Client {
	cl := &mqtt.Client{}
	cl.Net.Conn = c
	return cl
}

// BenchmarkPublishACL measures the per-PUBLISH and per-delivery checks as
// mochi calls them, for the common ["#"] token and for a narrowed one.
func BenchmarkPublishACL(b *testing.B) {
	for _, bc := range []struct {
		name         string
		topic, pub   []string
		publishTopic string
	}{
		{"All", []string{"#"}, nil, "sensors/42/temperature"},
		{"Narrowed", []string{"sensors/#", "actuators/+/set"}, []string{"sensors/+/temperature"}, "sensors/42/temperature"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newTestSession(b, bc.topic, bc.pub, nil)
			c := &conn{}
			c.sess.Store(s)
			cl := newTestClient(c)
			h := &hook{srv: &server{node: &Node{}}} // no on-publish hook
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: bc.publishTopic}
			b.ReportAllocs()
			for b.Loop() {
				if err := h.OnPublishInPlace(cl, &pk); err != nil {
					b.Fatal(err)
				}
				if !h.OnACLCheck(cl, bc.publishTopic, false) {
					b.Fatal("delivery denied")
				}
			}
		})
	}
}
