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
// connected on node 1, then the same client id connects on node 1
// again (same node) or on node 2 (across nodes). From the new CONNECT's
// write it reports the percentiles of its CONNACK (connack-) and of the
// old connection's DISCONNECT 0x8E (disconnect-). TLS handshakes are done
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
	for _, bc := range []struct {
		name     string
		old, new *env
	}{
		{"SameNode", f.n1, f.n1},
		{"CrossNode", f.n1, f.n2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var connack, disconnect []time.Duration
			for b.Loop() {
				tok, claims := br.token(b, nil)
				old, err := bc.old.dialWire(br.host)
				if err != nil {
					b.Fatal(err)
				}
				if err := old.connect(claims.Subject, tok); err != nil {
					b.Fatal(err)
				}
				// A node claims a client id once the CONNACK is sent, dated
				// then: a new connection made before that (the node's
				// goroutine delayed after its CONNACK, as happens on this
				// shared machine) would hold the earlier claim and be the
				// one taken over. Wait for the claim, so that the new
				// connection is the later one.
				for {
					m, err := claimsSeen.NextMsg(10 * time.Second)
					if err != nil {
						b.Fatalf("no claim of the old connection: %v", err)
					}
					if bytes.HasSuffix(m.Data, []byte(claims.Subject)) {
						break
					}
				}
				// The old connection's reader notes when the DISCONNECT
				// arrives, and its reason code.
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
				nc, err := bc.new.dialWire(br.host)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := nc.connect(claims.Subject, tok); err != nil {
					b.Fatal(err)
				}
				connack = append(connack, time.Since(t0))
				select {
				case e := <-endc:
					if e.err != nil {
						b.Fatalf("the old connection ended without DISCONNECT: %v", e.err)
					}
					if e.code != 0x8E {
						b.Fatalf("DISCONNECT %#x, want 0x8E", e.code)
					}
					disconnect = append(disconnect, e.at.Sub(t0))
				case <-time.After(10 * time.Second):
					b.Fatal("the old connection got no DISCONNECT")
				}
				old.reset()
				_ = nc.write(wire.AppendDisconnect(nil))
				nc.reset()
			}
			reportPercentiles(b, "connack-", connack)
			reportPercentiles(b, "disconnect-", disconnect)
		})
	}
}

// BenchmarkFleetRetainedVisible publishes a retained QoS 1 message on
// node 1, with a new payload each time, and from its PUBACK subscribes
// to its topic on node 1 (same node) or node 2 (across nodes) until a
// SUBSCRIBE gets that payload as a retained message. It reports the
// percentiles of PUBACK to that delivery, and the SUBSCRIBEs it took.
func BenchmarkFleetRetainedVisible(b *testing.B) {
	f := newFleet(b, 1, nil, "a")
	for _, bc := range []struct {
		name     string
		pub, sub *env
	}{
		{"NoNATS", f.base, f.base},
		{"SameNode", f.n1, f.n1},
		{"CrossNode", f.n1, f.n2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pub, err := bc.pub.connectWire("a")
			if err != nil {
				b.Fatal(err)
			}
			defer pub.reset()
			sub, err := bc.sub.connectWire("a")
			if err != nil {
				b.Fatal(err)
			}
			defer sub.reset()
			const topic, marker = "kept/1", "kept/marker"
			var (
				lat      []time.Duration
				attempts int
				older    int // iterations that saw an earlier payload first
				pid      uint16
			)
			id := func() uint16 {
				if pid++; pid == 0 {
					pid = 1
				}
				return pid
			}
			// Retained messages reach a subscriber after its SUBACK, in
			// the order of its SUBSCRIBEs: a SUBSCRIBE to the topic then
			// one to a marker that is always retained tells, once the
			// marker comes, whether the topic's message came before it.
			retain := func(topic string, payload []byte) { // and wait for its PUBACK
				b.Helper()
				pid := id()
				if err := pub.write(publishRetain(wire.AppendPublish(nil, topic, 1, pid, payload))); err != nil {
					b.Fatal(err)
				}
				for {
					typ, _, body, err := pub.rd.Next()
					if err != nil {
						b.Fatal(err)
					}
					if got, err := wire.AckPacketID(body); typ == wire.Puback && err == nil && got == pid {
						return
					}
				}
			}
			retain(marker, []byte("marker"))
			if err := sub.subscribe(1, marker, 0); err != nil {
				b.Fatal(err)
			}
			_ = sub.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				typ, flags, body, err := sub.rd.Next()
				if err != nil {
					b.Fatalf("the marker never came: %v", err)
				}
				if p, err := wire.ParsePublish(flags, body); typ == wire.Publish && err == nil && string(p.Topic) == marker {
					break
				}
			}
			_ = sub.SetReadDeadline(time.Time{})
			for b.Loop() {
				payload := []byte("v" + strconv.Itoa(len(lat)) + "-" + bc.name)
				retain(topic, payload)
				t0 := time.Now()
				sawOlder := false
				for seen := false; !seen; {
					if time.Since(t0) > 10*time.Second {
						b.Fatal("the retained message never became visible")
					}
					attempts++
					req := wire.AppendSubscribe(nil, id(), topic, 0)
					if err := sub.write(wire.AppendSubscribe(req, id(), marker, 0)); err != nil {
						b.Fatal(err)
					}
					for done := false; !done; {
						typ, flags, body, err := sub.rd.Next()
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
						case string(p.Topic) == marker:
							done = true
						case bytes.Equal(p.Payload, payload) && !seen:
							lat = append(lat, time.Since(t0))
							seen = true
						case !seen && !sawOlder:
							sawOlder = true
							older++
						}
					}
				}
				if err := sub.write(appendUnsubscribe(nil, id(), topic)); err != nil {
					b.Fatal(err)
				}
				for {
					typ, _, _, err := sub.rd.Next()
					if err != nil {
						b.Fatal(err)
					}
					if typ == unsuback {
						break
					}
				}
			}
			b.ReportMetric(float64(attempts)/float64(len(lat)), "subscribes/op")
			b.ReportMetric(float64(older)/float64(len(lat)), "older/op")
			reportPercentiles(b, "", lat)
		})
	}
}
