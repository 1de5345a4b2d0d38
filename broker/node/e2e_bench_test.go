package node_test

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
)

// BenchmarkPublishDeliver measures one message end to end over loopback
// TLS: a QoS 0 PUBLISH, the ACL checks, the delivery, and the paho client
// on both sides. Allocations include the clients'.
func BenchmarkPublishDeliver(b *testing.B) {
	e := newEnv(b, node.Limits{}, "a")
	sub, _ := e.mustConnect("a")
	if _, err := sub.subscribe(b, "bench/+", 0); err != nil {
		b.Fatal(err)
	}
	pub, _ := e.mustConnect("a")
	msg := &paho.Publish{Topic: "bench/1", Payload: make([]byte, 64)}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg.Payload)))
	for b.Loop() {
		if _, err := pub.Publish(ctx, msg); err != nil {
			b.Fatal(err)
		}
		<-sub.msgs
	}
}
