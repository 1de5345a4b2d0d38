package node

import (
	"slices"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openpubsub/pubsub/broker"
)

// The counters are plain atomics, written on the paths they count. The
// Prometheus collectors below read them, and each mochi server's own
// atomic counters, only when /metrics is scraped: no publish, delivery
// or connection ever calls into the Prometheus library.

// refusalReasons label CONNECT refusals. The first ones are the reasons
// pkg/token gives for a token it refuses.
var refusalReasons = []broker.Reason{
	"malformed", "algorithm", "unknown_key", "signature", "claims", "audience", "expired", "not_yet_valid",
	"no_token", "token_too_long", "revoked", "too_old", "client_id", "will_topic", "protocol_version", "unavailable",
	"broker_deleted", "key_removed", "will_topic_levels", broker.ReasonSelfSignedChanged,
}

// disconnectReasons label the DISCONNECTs the node sends.
var disconnectReasons = []broker.Reason{
	"revoked", "key_removed", "broker_deleted", "too_old", "expired", "packet_too_large", "message_rate", "shutdown",
	broker.ReasonSelfSignedChanged, broker.ReasonUnavailable,
	"operator", // an operator's disconnection (clients.go)
}

// offlineDropReasons label the offline sessions the node drops: those
// whose credentials are gone for good (dropsState in server.go).
var offlineDropReasons = []broker.Reason{broker.ReasonRevoked, broker.ReasonKeyRemoved, broker.ReasonTooOld}

// maxReasons bounds each list of reasons, so that their counters are
// fixed arrays; the slots past a list's length stay unused.
const maxReasons = 24

// reasonCounts counts events by reason, indexed like one of the lists of
// reasons above. A reason the list lacks is not counted; a test keeps
// every reason of mqttCodes in a list.
type reasonCounts [maxReasons]atomic.Int64

func (c *reasonCounts) add(list []broker.Reason, r broker.Reason) {
	if i := slices.Index(list, r); i >= 0 {
		c[i].Add(1)
	}
}

// brokerMetrics are the counters of one broker's server.
type brokerMetrics struct {
	connections  atomic.Int64    // sessions established
	refusals     reasonCounts    // by refusalReasons
	disconnects  reasonCounts    // by disconnectReasons
	offlineDrops reasonCounts    // by offlineDropReasons
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
	m.refusals.add(refusalReasons, broker.Reason(reason))
}

func (m *brokerMetrics) disconnected(reason string) {
	m.disconnects.add(disconnectReasons, broker.Reason(reason))
}

func (m *brokerMetrics) dropped(reason string) {
	m.offlineDrops.add(offlineDropReasons, broker.Reason(reason))
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

// descs are every family the node's collector writes, for Describe.
var descs []*prometheus.Desc

// newDesc describes a family of the node's collector.
func newDesc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	descs = append(descs, d)
	return d
}

// The node's own families.
var (
	descReady      = newDesc("pubsub_node_ready", "1 once the node has applied its first configuration.")
	descRevision   = newDesc("pubsub_node_config_revision", "Config feed revision the node has applied.")
	descBrokers    = newDesc("pubsub_node_brokers", "Brokers in the node's configuration.")
	descTicketKeys = newDesc("pubsub_node_tls_ticket_keys", "TLS session ticket keys shared by the fleet through the config feed; 0 while the node uses keys of its own.")
	descHandshakes = newDesc("pubsub_tls_handshakes_total", "TLS handshakes that succeeded, full or resumed from a session ticket.", "kind")
	descActive     = newDesc("pubsub_node_brokers_active", "Brokers with a running MQTT server (one client has connected since start).")
	descCacheHits  = newDesc("pubsub_token_cache_hits_total", "Token checks answered from the cache of verified tokens (no signature check).")
	descCacheMiss  = newDesc("pubsub_token_cache_misses_total", "Token checks that verified a signature.")
	descUnrouted   = newDesc("pubsub_node_unrouted_connections_total", "Connections closed before reaching a broker, by reason.", "reason")
	descACL        = newDesc("pubsub_acl_denials_total", "Publishes and subscription filters refused by the token's ACL.", "broker", "action")
	descRetRefused = newDesc("pubsub_retained_refused_total", "Retained publishes refused (MQTT 0x97, HTTP 507; QoS 0 dropped) and wills not retained, because the broker's retained messages or bytes are at their maximum.", "broker", "reason")
	descRefusals   = newDesc("pubsub_auth_refusals_total", "CONNECTs refused, by reason.", "broker", "reason")
	descDisconnect = newDesc("pubsub_disconnects_total", "DISCONNECTs the node sent, by reason.", "broker", "reason")
	descOffline    = newDesc("pubsub_offline_sessions_dropped_total", "Offline sessions and delayed wills dropped when their token was revoked or its key removed, by reason.", "broker", "reason")
)

// brokerFamily is a family with one series per broker, read from its
// server.
type brokerFamily struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(*server) int64
}

func gauge(name, help string, get func(*server) int64) brokerFamily {
	return brokerFamily{newDesc(name, help, "broker"), prometheus.GaugeValue, get}
}

func counter(name, help string, get func(*server) int64) brokerFamily {
	return brokerFamily{newDesc(name, help, "broker"), prometheus.CounterValue, get}
}

// brokerFamilies are the families with one series per broker.
var brokerFamilies = []brokerFamily{
	gauge("pubsub_connections", "MQTT clients connected.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.ClientsConnected) }),
	gauge("pubsub_subscriptions", "Subscriptions held, by connected and offline sessions.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.Subscriptions) }),
	// The quota's count, not mochi's: mochi counts its own $SYS topics
	// too (one retained message showed as 21).
	gauge("pubsub_retained_messages", "Retained messages held (clients' topics only, $SYS excluded).", func(s *server) int64 { n, _ := s.quota.usage(); return int64(n) }),
	gauge("pubsub_retained_bytes", "Bytes of retained messages held (topic, payload and properties), as the retained quota counts them.", func(s *server) int64 { _, b := s.quota.usage(); return b }),
	// Not pubsub_connections_total: in OpenMetrics that is the family
	// pubsub_connections, which the gauge above already is.
	counter("pubsub_connections_accepted_total", "MQTT sessions established (CONNACK success).", func(s *server) int64 { return s.m.connections.Load() }),
	counter("pubsub_messages_received_total", "PUBLISH packets received from clients, refused ones included.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesReceived) }),
	counter("pubsub_messages_sent_total", "PUBLISH packets sent to clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesSent) }),
	counter("pubsub_bytes_received_total", "MQTT bytes received from clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.BytesReceived) }),
	counter("pubsub_bytes_sent_total", "MQTT bytes sent to clients.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.BytesSent) }),
	counter("pubsub_qos0_dropped_total", "QoS 0 publishes dropped because the token does not allow the topic.", func(s *server) int64 { return s.m.droppedQoS0.Load() }),
	counter("pubsub_deliveries_dropped_total", "Deliveries dropped because the subscriber's queue was full.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.MessagesDropped) }),
	counter("pubsub_slow_consumers_total", "Clients disconnected because their socket stayed unwritable past the write timeout (they read nothing of what they were sent).", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.SlowConsumers) }),
	counter("pubsub_inflight_dropped_total", "QoS 1 and 2 deliveries dropped because the subscriber already had the maximum unacknowledged.", func(s *server) int64 { return atomic.LoadInt64(&s.mochi.Info.InflightDropped) }),
	counter("pubsub_subscriptions_refused_total", "SUBSCRIBE filters refused with 0x97 because the session holds --max-subscriptions already.", func(s *server) int64 { return s.m.subQuota.Load() }),
}

// collector is the node's Prometheus collector: it reads the counters of
// the node and of every broker it has a server for, at scrape time.
type collector struct{ n *Node }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	st := n.state.Load()
	ready := 0.0
	if n.ready.Load() {
		ready = 1
	}
	servers := n.serverList()
	slices.SortFunc(servers, func(a, b *server) int { return strings.Compare(a.hostname(), b.hostname()) })
	gaugeOf := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counterOf := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	gaugeOf(descReady, ready)
	gaugeOf(descRevision, float64(st.Revision()))
	gaugeOf(descBrokers, float64(st.Len()))
	ticketKeys := 0
	if tk := st.TicketKeys(); tk != nil {
		ticketKeys = len(tk.Keys)
	}
	gaugeOf(descTicketKeys, float64(ticketKeys))
	counterOf(descHandshakes, n.m.handshakes[0].Load(), "full")
	counterOf(descHandshakes, n.m.handshakes[1].Load(), "resumed")
	gaugeOf(descActive, float64(len(servers)))
	hits, misses := n.grants.Stats()
	counterOf(descCacheHits, hits)
	counterOf(descCacheMiss, misses)
	for i, r := range unroutedReasons {
		counterOf(descUnrouted, n.m.unrouted[i].Load(), r)
	}
	for _, s := range servers {
		host := s.hostname()
		for _, f := range brokerFamilies {
			ch <- prometheus.MustNewConstMetric(f.desc, f.typ, float64(f.get(s)), host)
		}
		counterOf(descACL, s.m.aclPublish.Load(), host, "publish")
		counterOf(descACL, s.m.aclSubscribe.Load(), host, "subscribe")
		for i, r := range quotaReasons {
			counterOf(descRetRefused, s.m.retainedRef[i].Load(), host, r)
		}
		// Every reason has its series from the start, at 0, so that a
		// rate over it is defined before the first event.
		for _, f := range []struct {
			desc   *prometheus.Desc
			list   []broker.Reason
			counts *reasonCounts
		}{
			{descRefusals, refusalReasons, &s.m.refusals},
			{descDisconnect, disconnectReasons, &s.m.disconnects},
			{descOffline, offlineDropReasons, &s.m.offlineDrops},
		} {
			for i, r := range f.list {
				counterOf(f.desc, f.counts[i].Load(), host, string(r))
			}
		}
	}
	collectHookMetrics(ch, servers) // onpublish.go
	n.collectFleetMetrics(ch, servers)
}
