package node

import (
	"bufio"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// The counters are plain atomics, written on the paths they count and
// read only by /metrics; the exposition is written by hand in the
// Prometheus text format (version 0.0.4), which needs no client library.
// Byte, message and connection gauges come from each mochi server's own
// atomic counters, which it maintains anyway.

// refusalReasons label CONNECT refusals. The first ones are the reasons
// pkg/token gives for a token it refuses.
var refusalReasons = []string{
	"malformed", "algorithm", "unknown_key", "signature", "claims", "audience", "expired", "not_yet_valid",
	"no_token", "token_too_long", "revoked", "too_old", "client_id", "will_topic", "protocol_version", "unavailable",
	"broker_deleted", "key_removed", "will_topic_levels",
}

// disconnectReasons label the DISCONNECTs the node sends, and the
// offline sessions it drops.
var disconnectReasons = []string{
	"revoked", "key_removed", "broker_deleted", "too_old", "expired", "packet_too_large", "message_rate", "shutdown",
	"operator", // an operator's disconnection (clients.go)
}

// brokerMetrics are the counters of one broker's server.
type brokerMetrics struct {
	connections  atomic.Int64 // sessions established
	refusals     [19]atomic.Int64
	disconnects  [9]atomic.Int64
	offlineDrops [9]atomic.Int64 // offline sessions dropped, by disconnect reason
	aclPublish   atomic.Int64    // publishes refused by the ACL
	aclSubscribe atomic.Int64    // filters refused by the ACL
	subQuota     atomic.Int64    // filters refused past MaxSubscriptions
	droppedQoS0  atomic.Int64    // QoS 0 publishes refused, hence dropped silently
	retainedRef  [2]atomic.Int64 // retained publishes over the quota, by quotaReasons
}

// quotaReasons label retained publishes refused by the retained quota.
var quotaReasons = []string{quotaMessages, quotaBytes}

func (m *brokerMetrics) retainedRefused(reason string) {
	if i := slices.Index(quotaReasons, reason); i >= 0 {
		m.retainedRef[i].Add(1)
	}
}

func (m *brokerMetrics) refused(reason string) {
	if i := slices.Index(refusalReasons, reason); i >= 0 {
		m.refusals[i].Add(1)
	}
}

func (m *brokerMetrics) disconnected(reason string) {
	if i := slices.Index(disconnectReasons, reason); i >= 0 {
		m.disconnects[i].Add(1)
	}
}

func (m *brokerMetrics) dropped(reason string) {
	if i := slices.Index(disconnectReasons, reason); i >= 0 {
		m.offlineDrops[i].Add(1)
	}
}

// unroutedReasons label connections the node closed before any broker's
// server had them.
var unroutedReasons = []string{
	"handshake", "unknown_host", "read", "not_connect", "malformed", "too_large", "protocol_version", "no_token", "bad_token", "unknown_audience",
}

// nodeMetrics are the counters of the node itself.
type nodeMetrics struct {
	unrouted   [10]atomic.Int64
	handshakes [2]atomic.Int64 // full, resumed
}

// handshake counts a TLS handshake that succeeded.
func (m *nodeMetrics) handshake(resumed bool) {
	if resumed {
		m.handshakes[1].Add(1)
	} else {
		m.handshakes[0].Add(1)
	}
}

func (m *nodeMetrics) count(reason string) {
	if i := slices.Index(unroutedReasons, reason); i >= 0 {
		m.unrouted[i].Add(1)
	}
}

// writeMetrics writes the exposition of the node and of every broker it
// has a server for, sorted by hostname so the output is stable.
func (n *Node) writeMetrics(out io.Writer) error {
	w := bufio.NewWriter(out)
	st := n.state.Load()
	ready := 0
	if n.ready.Load() {
		ready = 1
	}
	servers := n.serverList()
	slices.SortFunc(servers, func(a, b *server) int { return strings.Compare(a.hostname(), b.hostname()) })

	family(w, "pubsub_node_ready", "gauge", "1 once the node has applied its first configuration.")
	sample(w, "pubsub_node_ready", "", "", int64(ready))
	family(w, "pubsub_node_config_revision", "gauge", "Config feed revision the node has applied.")
	sample(w, "pubsub_node_config_revision", "", "", st.Revision())
	ticketKeys := 0
	if tk := st.TicketKeys(); tk != nil {
		ticketKeys = len(tk.Keys)
	}
	family(w, "pubsub_node_tls_ticket_keys", "gauge", "TLS session ticket keys shared by the fleet through the config feed; 0 while the node uses keys of its own.")
	sample(w, "pubsub_node_tls_ticket_keys", "", "", int64(ticketKeys))
	family(w, "pubsub_tls_handshakes_total", "counter", "TLS handshakes that succeeded, full or resumed from a session ticket.")
	sample(w, "pubsub_tls_handshakes_total", "", `kind="full"`, n.m.handshakes[0].Load())
	sample(w, "pubsub_tls_handshakes_total", "", `kind="resumed"`, n.m.handshakes[1].Load())
	family(w, "pubsub_node_brokers", "gauge", "Brokers in the node's configuration.")
	sample(w, "pubsub_node_brokers", "", "", int64(st.Len()))
	hits, misses := n.grants.Stats()
	family(w, "pubsub_token_cache_hits_total", "counter", "Token checks answered from the cache of verified tokens (no signature check).")
	sample(w, "pubsub_token_cache_hits_total", "", "", hits)
	family(w, "pubsub_token_cache_misses_total", "counter", "Token checks that verified a signature.")
	sample(w, "pubsub_token_cache_misses_total", "", "", misses)
	family(w, "pubsub_node_brokers_active", "gauge", "Brokers with a running MQTT server (one client has connected since start).")
	sample(w, "pubsub_node_brokers_active", "", "", int64(len(servers)))
	family(w, "pubsub_node_unrouted_connections_total", "counter", "Connections closed before reaching a broker, by reason.")
	for i, r := range unroutedReasons {
		sample(w, "pubsub_node_unrouted_connections_total", "", `reason="`+r+`"`, n.m.unrouted[i].Load())
	}

	gauges := []struct {
		name, help string
		get        func(*server) int64
	}{
		{"pubsub_connections", "MQTT clients connected.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.ClientsConnected) }},
		{"pubsub_subscriptions", "Subscriptions held, by connected and offline sessions.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.Subscriptions) }},
		// The quota's count, not mochi's: mochi counts its own $SYS
		// topics too (one retained message showed as 21).
		{"pubsub_retained_messages", "Retained messages held (clients' topics only).", func(s *server) int64 { n, _ := s.quota.usage(); return int64(n) }},
		{"pubsub_retained_bytes", "Bytes of retained messages held (topic, payload and properties), as the retained quota counts them.", func(s *server) int64 { _, b := s.quota.usage(); return b }},
	}
	for _, g := range gauges {
		family(w, g.name, "gauge", g.help)
		for _, s := range servers {
			sample(w, g.name, s.hostname(), "", g.get(s))
		}
	}
	counters := []struct {
		name, help string
		get        func(*server) int64
	}{
		{"pubsub_connections_total", "MQTT sessions established.", func(s *server) int64 { return s.m.connections.Load() }},
		{"pubsub_messages_received_total", "PUBLISH packets received from clients, refused ones included.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesReceived) }},
		{"pubsub_messages_sent_total", "PUBLISH packets sent to clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesSent) }},
		{"pubsub_bytes_received_total", "MQTT bytes received from clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.BytesReceived) }},
		{"pubsub_bytes_sent_total", "MQTT bytes sent to clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.BytesSent) }},
		{"pubsub_qos0_dropped_total", "QoS 0 publishes dropped because the token does not allow the topic.", func(s *server) int64 { return s.m.droppedQoS0.Load() }},
		{"pubsub_deliveries_dropped_total", "Deliveries dropped because the subscriber's queue was full.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesDropped) }},
		{"pubsub_slow_consumers_total", "Clients disconnected because their socket stayed unwritable past the write timeout (they read nothing of what they were sent).", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.SlowConsumers) }},
		{"pubsub_inflight_dropped_total", "QoS 1 and 2 deliveries dropped because the subscriber already had the maximum unacknowledged.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.InflightDropped) }},
	}
	for _, c := range counters {
		family(w, c.name, "counter", c.help)
		for _, s := range servers {
			sample(w, c.name, s.hostname(), "", c.get(s))
		}
	}
	family(w, "pubsub_acl_denials_total", "counter", "Publishes and subscription filters refused by the token's ACL.")
	for _, s := range servers {
		sample(w, "pubsub_acl_denials_total", s.hostname(), `action="publish"`, s.m.aclPublish.Load())
		sample(w, "pubsub_acl_denials_total", s.hostname(), `action="subscribe"`, s.m.aclSubscribe.Load())
	}
	family(w, "pubsub_subscriptions_refused_total", "counter", "SUBSCRIBE filters refused with 0x97 because the session holds --max-subscriptions already.")
	for _, s := range servers {
		sample(w, "pubsub_subscriptions_refused_total", s.hostname(), "", s.m.subQuota.Load())
	}
	family(w, "pubsub_retained_refused_total", "counter", "Retained publishes refused (MQTT 0x97, HTTP 507; QoS 0 dropped) and wills not retained, because the broker's retained messages or bytes are at their maximum.")
	for _, s := range servers {
		for i, r := range quotaReasons {
			sample(w, "pubsub_retained_refused_total", s.hostname(), `reason="`+r+`"`, s.m.retainedRef[i].Load())
		}
	}
	// Reason series are written once they are non-zero, to keep the
	// exposition in proportion with what happens.
	family(w, "pubsub_auth_refusals_total", "counter", "CONNECTs refused, by reason.")
	for _, s := range servers {
		for i, r := range refusalReasons {
			if v := s.m.refusals[i].Load(); v > 0 {
				sample(w, "pubsub_auth_refusals_total", s.hostname(), `reason="`+r+`"`, v)
			}
		}
	}
	family(w, "pubsub_disconnects_total", "counter", "DISCONNECTs the node sent, by reason.")
	for _, s := range servers {
		for i, r := range disconnectReasons {
			if v := s.m.disconnects[i].Load(); v > 0 {
				sample(w, "pubsub_disconnects_total", s.hostname(), `reason="`+r+`"`, v)
			}
		}
	}
	family(w, "pubsub_offline_sessions_dropped_total", "counter", "Offline sessions and delayed wills dropped when their token was revoked or its key removed, by reason.")
	for _, s := range servers {
		for i, r := range disconnectReasons {
			if v := s.m.offlineDrops[i].Load(); v > 0 {
				sample(w, "pubsub_offline_sessions_dropped_total", s.hostname(), `reason="`+r+`"`, v)
			}
		}
	}
	writeHookMetrics(w, servers) // onpublish.go
	n.writeFleetMetrics(w)
	writeRuntimeMetrics(w)
	if err := w.Flush(); err != nil {
		return err
	}
	return n.edge.WriteMetrics(out)
}

func family(w *bufio.Writer, name, typ, help string) {
	w.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
}

// sample writes one sample; broker and extra are its labels, either may
// be empty.
func sample(w *bufio.Writer, name, broker, extra string, v int64) {
	w.WriteString(name)
	if broker != "" || extra != "" {
		w.WriteByte('{')
		if broker != "" {
			w.WriteString(`broker="` + escapeLabel(broker) + `"`)
			if extra != "" {
				w.WriteByte(',')
			}
		}
		w.WriteString(extra + "}")
	}
	w.WriteByte(' ')
	w.WriteString(strconv.FormatInt(v, 10))
	w.WriteByte('\n')
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}
