package node_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/openpubsub/pubsub/bench/wire"
	"github.com/openpubsub/pubsub/broker/natsbus/natstest"
)

// BenchmarkFleetTakeover times a client id's takeover: a client is
// connected on node 1, then the same client id connects on node 1 again
// (same) or on node 2 (cross), in turn. From the new CONNECT's write it
// reports the percentiles of its CONNACK (-connack-) and of the old
// connection's DISCONNECT 0x8E (-disconnect-). TLS handshakes are done
// before the clock starts; each iteration has a fresh client id.
func BenchmarkFleetTakeover(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	// Both nodes serve the broker and follow its claims.
	if _, err := f.n1.connectWire("a"); err != nil {
		b.Fatal(err)
	}
	if _, err := f.n2.connectWire("a"); err != nil {
		b.Fatal(err)
	}
	natstest.Poll(b, "both nodes' claim subscriptions", func() bool { return f.nats.Subscriptions(b, "pubsub-claims.") == 2 })
	br := f.n1.brokers["a"]
	// The benchmark sees the claims the nodes send, to start the new
	// connection only once the old one's claim is out (see below).
	nc, err := nats.Connect(f.nats.URL(0))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	claimsSeen, err := nc.SubscribeSync("pubsub-claims.>")
	if err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	type takeover struct {
		name                string
		new                 *env
		connack, disconnect []time.Duration
	}
	cases := []*takeover{{name: "same", new: f.n1}, {name: "cross", new: f.n2}}
	n := 0
	for b.Loop() {
		tc := cases[n%len(cases)]
		n++
		tok, claims := br.token(b, nil)
		old, err := f.n1.dialWire(br.host)
		if err != nil {
			b.Fatal(err)
		}
		if err := old.connect(claims.Subject, tok); err != nil {
			b.Fatal(err)
		}
		// A node claims a client id once the CONNACK is sent, dated
		// then: a new connection made before that (the node's goroutine
		// delayed after its CONNACK, as happens on this shared machine)
		// would hold the earlier claim and be the one taken over. Wait
		// for the claim, so that the new connection is the later one.
		for {
			m, err := claimsSeen.NextMsg(10 * time.Second)
			if err != nil {
				b.Fatalf("no claim of the old connection: %v", err)
			}
			if bytes.HasSuffix(m.Data, []byte(claims.Subject)) {
				break
			}
		}
		// The old connection's reader notes when the DISCONNECT arrives,
		// and its reason code.
		type ended struct {
			at   time.Time
			code byte
			err  error
		}
		endc := make(chan ended, 1)
		go func() {
			for {
				typ, _, body, err := old.rd.Next()
				if err != nil {
					endc <- ended{err: err}
					return
				}
				if typ == wire.Disconnect {
					endc <- ended{at: time.Now(), code: wire.DisconnectReason(body)}
					return
				}
			}
		}()
		nc, err := tc.new.dialWire(br.host)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := nc.connect(claims.Subject, tok); err != nil {
			b.Fatal(err)
		}
		tc.connack = append(tc.connack, time.Since(t0))
		select {
		case e := <-endc:
			if e.err != nil {
				b.Fatalf("the old connection ended without DISCONNECT: %v", e.err)
			}
			if e.code != 0x8E {
				b.Fatalf("DISCONNECT %#x, want 0x8E", e.code)
			}
			tc.disconnect = append(tc.disconnect, e.at.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatal("the old connection got no DISCONNECT")
		}
		old.reset()
		_ = nc.write(wire.AppendDisconnect(nil))
		nc.reset()
	}
	for _, tc := range cases {
		reportPercentiles(b, tc.name+"-connack-", tc.connack)
		reportPercentiles(b, tc.name+"-disconnect-", tc.disconnect)
	}
}

// visibility is one case of BenchmarkFleetRetainedVisible: a publisher
// and a subscriber, and what it measured.
type visibility struct {
	name                  string
	pubNode, subNode      *env
	topic, marker         string
	pub, sub              *wireConn
	pid                   uint16
	lat                   []time.Duration
	attempts, older, iter int
}

func (v *visibility) id() uint16 {
	if v.pid++; v.pid == 0 {
		v.pid = 1
	}
	return v.pid
}

// retain publishes a retained QoS 1 message and waits for its PUBACK.
func (v *visibility) retain(b *testing.B, topic string, payload []byte) {
	b.Helper()
	pid := v.id()
	if err := v.pub.write(publishRetain(wire.AppendPublish(nil, topic, 1, pid, payload))); err != nil {
		b.Fatal(err)
	}
	for {
		typ, _, body, err := v.pub.rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if got, err := wire.AckPacketID(body); typ == wire.Puback && err == nil && got == pid {
			return
		}
	}
}

// setUp connects the case's clients and retains its marker, which the
// subscriber gets before it returns.
func (v *visibility) setUp(b *testing.B) {
	b.Helper()
	var err error
	if v.pub, err = v.pubNode.connectWire("a"); err != nil {
		b.Fatal(err)
	}
	if v.sub, err = v.subNode.connectWire("a"); err != nil {
		b.Fatal(err)
	}
	v.retain(b, v.marker, []byte("marker"))
	if err := v.sub.subscribe(v.id(), v.marker, 0); err != nil {
		b.Fatal(err)
	}
	_ = v.sub.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		typ, flags, body, err := v.sub.rd.Next()
		if err != nil {
			b.Fatalf("%s: the marker never came: %v", v.name, err)
		}
		if p, err := wire.ParsePublish(flags, body); typ == wire.Publish && err == nil && string(p.Topic) == v.marker {
			break
		}
	}
	_ = v.sub.SetReadDeadline(time.Time{})
}

// once publishes a new retained payload and, from its PUBACK, subscribes
// until a SUBSCRIBE gets it. Retained messages reach a subscriber after
// its SUBACK, in the order of its SUBSCRIBEs: a SUBSCRIBE to the topic
// then one to the marker, which is always retained, tells, once the
// marker comes, whether the topic's message came before it.
func (v *visibility) once(b *testing.B) {
	b.Helper()
	payload := []byte("v" + strconv.Itoa(v.iter) + "-" + v.name)
	v.iter++
	v.retain(b, v.topic, payload)
	t0 := time.Now()
	sawOlder := false
	for seen := false; !seen; {
		if time.Since(t0) > 10*time.Second {
			b.Fatalf("%s: the retained message never became visible", v.name)
		}
		v.attempts++
		req := wire.AppendSubscribe(nil, v.id(), v.topic, 0)
		if err := v.sub.write(wire.AppendSubscribe(req, v.id(), v.marker, 0)); err != nil {
			b.Fatal(err)
		}
		for done := false; !done; {
			typ, flags, body, err := v.sub.rd.Next()
			if err != nil {
				b.Fatal(err)
			}
			if typ != wire.Publish || flags&0x01 == 0 {
				continue // SUBACKs, and live messages
			}
			p, err := wire.ParsePublish(flags, body)
			switch {
			case err != nil:
				b.Fatal(err)
			case string(p.Topic) == v.marker:
				done = true
			case bytes.Equal(p.Payload, payload) && !seen:
				v.lat = append(v.lat, time.Since(t0))
				seen = true
			case !seen && !sawOlder:
				sawOlder = true
				v.older++
			}
		}
	}
	if err := v.sub.write(appendUnsubscribe(nil, v.id(), v.topic)); err != nil {
		b.Fatal(err)
	}
	for {
		typ, _, _, err := v.sub.rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if typ == unsuback {
			return
		}
	}
}

// BenchmarkFleetRetainedVisible publishes a retained QoS 1 message, with
// a new payload each time, and from its PUBACK subscribes to its topic
// until a SUBSCRIBE gets that payload as a retained message, for three
// cases in turn: on a node without NATS (nonats), on one node of a fleet
// (same) and from node 1 to node 2 (cross). It reports the percentiles of
// PUBACK to that delivery, the SUBSCRIBEs it took, and how often a
// SUBSCRIBE got the previous payload first (older/op).
func BenchmarkFleetRetainedVisible(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	cases := []*visibility{
		{name: "nonats", pubNode: f.base, subNode: f.base},
		{name: "same", pubNode: f.n1, subNode: f.n1},
		{name: "cross", pubNode: f.n1, subNode: f.n2},
	}
	for _, v := range cases {
		v.topic, v.marker = "kept/"+v.name, "marker/"+v.name
		v.setUp(b)
	}
	n := 0
	for b.Loop() {
		cases[n%len(cases)].once(b)
		n++
	}
	for _, v := range cases {
		b.ReportMetric(float64(v.attempts)/float64(len(v.lat)), v.name+"-subscribes/op")
		b.ReportMetric(float64(v.older)/float64(len(v.lat)), v.name+"-older/op")
		reportPercentiles(b, v.name+"-", v.lat)
	}
}
