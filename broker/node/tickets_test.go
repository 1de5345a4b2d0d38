package node_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
)

// ticketKeys is a ticket_keys event with one key per id byte, newest first.
func ticketKeys(ids ...byte) feed.Event {
	ev := feed.Event{Type: feed.TypeTicketKeys}
	for _, id := range ids {
		ev.TicketKeys = append(ev.TicketKeys, feed.HMACKey{ID: string('0' + id), Secret: bytes.Repeat([]byte{id}, feed.TicketKeySize)})
	}
	return ev
}

// twin starts another node with e's certificates and brokers, serving st.
func (e *env) twin(t *testing.T, st *broker.State) *env {
	t.Helper()
	n, err := node.New(node.Config{
		MQTTAddrs: []string{"127.0.0.1:0"}, HTTPSAddrs: []string{"127.0.0.1:0"}, OpsAddr: "127.0.0.1:0",
		Certs: e.certs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: node.Limits{IdleLinger: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	n.Apply(st)
	cp := *e
	cp.t, cp.node, cp.addr, cp.state = t, n, n.MQTTAddrs()[0].String(), st
	return &cp
}

// connectResumed opens an MQTT session on broker id over TLS with the
// client's session cache, offering ALPN "mqtt" or none, and reports
// whether TLS resumed a session. Reading the CONNACK also reads the
// ticket the node sends after the handshake, which lands in cache.
func (e *env) connectResumed(t *testing.T, id string, cache tls.ClientSessionCache, alpn bool) bool {
	t.Helper()
	cfg := &tls.Config{ServerName: e.brokers[id].host, RootCAs: e.ca.pool, ClientSessionCache: cache}
	if alpn {
		cfg.NextProtos = []string{"mqtt"}
	}
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: waitFor}, "tcp", e.addr, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(waitFor))
	tok, claims := e.brokers[id].token(t, nil)
	if ack := (&rawConn{tc}).connectV5(t, claims.Subject, tok); ack.ReasonCode != packets.ConnackSuccess {
		t.Fatalf("CONNACK 0x%02x", ack.ReasonCode)
	}
	return tc.ConnectionState().DidResume
}

// TestTicketKeysResumeAcrossNodes checks that a client resumes its TLS
// session on another node fed the same ticket keys, still after a
// rotation that keeps the key of its ticket, and no longer once that key
// is dropped; and that a node without the fleet's keys serves it with a
// full handshake.
func TestTicketKeysResumeAcrossNodes(t *testing.T) {
	a := newEnv(t, node.Limits{}, "b1")
	bare := a.state // no ticket keys: what a node gets from a control plane that sends none
	a.apply(ticketKeys(1))
	b := a.twin(t, a.state)
	alone := a.twin(t, bare)
	cache := tls.NewLRUClientSessionCache(4)

	for _, step := range []struct {
		name   string
		on     *env
		rotate *feed.Event // applied to a and b first
		alpn   bool
		resume bool
	}{
		{name: "FullOnFirstConnect", on: a},
		{name: "ResumedOnOtherNode", on: b, resume: true},
		{name: "ResumedOnOtherNodeWithALPN", on: a, alpn: true, resume: true},
		{name: "FullOnNodeWithoutFleetKeys", on: alone},
		{name: "FullWithTicketOfNodeWithoutFleetKeys", on: b},
		{name: "ResumedAfterRotationKeepingItsKey", on: a, rotate: new(ticketKeys(2, 1)), resume: true},
		{name: "ResumedWithNewestKey", on: b, rotate: new(ticketKeys(3, 2)), resume: true},
		{name: "FullOnceItsKeyIsDropped", on: a, rotate: new(ticketKeys(4)), alpn: true},
		{name: "ResumedAgain", on: b, resume: true},
	} {
		if step.rotate != nil {
			a.apply(*step.rotate)
			b.node.Apply(a.state)
		}
		if got := step.on.connectResumed(t, "b1", cache, step.alpn); got != step.resume {
			t.Fatalf("%s: DidResume = %v, want %v", step.name, got, step.resume)
		}
	}
	for _, m := range []struct {
		on     *env
		sample string
		want   int64
	}{
		{b, `pubsub_tls_handshakes_total{kind="full"}`, 1},
		{b, `pubsub_tls_handshakes_total{kind="resumed"}`, 3},
		{b, "pubsub_node_tls_ticket_keys", 1},
		{alone, "pubsub_node_tls_ticket_keys", 0},
		{alone, `pubsub_tls_handshakes_total{kind="full"}`, 1},
	} {
		if got := m.on.metric(m.sample); got != m.want {
			t.Errorf("%s = %d, want %d", m.sample, got, m.want)
		}
	}
}
