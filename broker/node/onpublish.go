package node

import (
	"crypto/x509"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/onpublish"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// HookConfig is the node's side of the brokers' on-publish hooks.
type HookConfig struct {
	// AllowHTTP allows http:// hook URLs that resolve to loopback or
	// private addresses (pubsub dev sets it); https:// is always allowed.
	AllowHTTP bool
	// RootCAs verify https:// hooks; nil: the system's roots.
	RootCAs *x509.CertPool
	// MaxInFlight bounds the requests in flight per broker; 0:
	// onpublish.DefaultMaxInFlight. When they are all taken, the
	// broker's publishers wait (their sockets are not read).
	MaxInFlight int
	// MaxBatch bounds the messages of one request; 0:
	// onpublish.DefaultMaxBatch.
	MaxBatch int
}

// Reason codes of publishes the hook did not let through, for QoS 1 and
// 2 publishers (QoS 0 ones are dropped silently, as MQTT has no answer).
var (
	// codeHookDropped: the hook left the message out on purpose, which
	// is a success for the publisher (0x10 No matching subscribers).
	codeHookDropped = packets.Code{Code: 0x10, Reason: "the on-publish hook dropped the message"}
	// codeHookFailed: the hook's request failed; the reason names how.
	codeHookFailed = packets.Code{Code: 0x80}
)

// hookState is a broker server's current on-publish hook, rebuilt when
// the broker's hook settings change. Its stats outlive each Hook.
type hookState struct {
	mu     sync.Mutex // serializes rebuilds; never held across I/O
	cur    atomic.Pointer[hookConf]
	closed bool
	stats  onpublish.Stats
}

// hookConf is the hook built for one version of the broker.
type hookConf struct {
	b    *broker.Broker
	hook *onpublish.Hook // nil: no hook, or err
	err  error           // the hook's settings are refused on this node
}

// currentHook returns the hook for broker b, building it if b's hook
// settings changed since the last call. It returns a nil conf when b has
// no hook.
func (s *server) currentHook(b *broker.Broker) *hookConf {
	st := &s.hook
	c := st.cur.Load()
	if c != nil && c.b == b {
		return c
	}
	if c == nil && b.OnPublishURL == "" {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil
	}
	c = st.cur.Load()
	switch {
	case c != nil && c.b == b:
		return c
	case c != nil && sameHook(c.b, b):
		c = &hookConf{b: b, hook: c.hook, err: c.err}
		st.cur.Store(c)
		return c
	}
	if c != nil && c.hook != nil {
		go c.hook.Close() // lets its requests in flight finish
	}
	if b.OnPublishURL == "" {
		st.cur.Store(nil)
		return nil
	}
	h, err := onpublish.New(hookConfig(s.node.cfg.Hooks, b), &st.stats)
	if err != nil {
		s.log.Error("the broker's on-publish hook is refused on this node; its messages are dropped", "error", err)
	}
	c = &hookConf{b: b, hook: h, err: err}
	st.cur.Store(c)
	return c
}

// hookConfig is the onpublish.Config of broker b's hook on this node.
func hookConfig(nc HookConfig, b *broker.Broker) onpublish.Config {
	cfg := onpublish.Config{
		URL: b.OnPublishURL, Broker: b.Hostname, KeyID: b.HookKID, Key: b.HookKey,
		MaxInFlight: nc.MaxInFlight, MaxBatch: nc.MaxBatch, AllowHTTP: nc.AllowHTTP, RootCAs: nc.RootCAs,
	}
	if o := b.OnPublish; o != nil {
		cfg.Filters = o.Filters
		cfg.Timeout = time.Duration(o.Timeout) * time.Second
		switch o.OnFailure {
		case "pass":
			cfg.OnFailure = onpublish.FailPass
		case "retry":
			cfg.OnFailure = onpublish.FailRetry
		}
		if o.Mode == "notify" {
			cfg.Mode = onpublish.Notify
		}
	}
	return cfg
}

// sameHook reports whether two versions of a broker have the same hook.
func sameHook(a, b *broker.Broker) bool {
	return a.OnPublishURL == b.OnPublishURL && a.HookKID == b.HookKID && a.Hostname == b.Hostname &&
		reflect.DeepEqual(a.OnPublish, b.OnPublish)
}

// closeHook ends the broker's hook when its server shuts down; the
// publishers it holds are released.
func (s *server) closeHook() {
	st := &s.hook
	st.mu.Lock()
	st.closed = true
	c := st.cur.Swap(nil)
	st.mu.Unlock()
	if c != nil && c.hook != nil {
		c.hook.Abort()
	}
}

// runHook passes a publish that every check admitted through the
// broker's on-publish hook, on the publisher's goroutine, before any
// subscriber, the retained store or another node sees it: it blocks
// until the hook decides (the back-pressure on publishers), puts the
// hook's payload into pk, and returns the error that refuses it, if the
// hook dropped it. $ topics never go to the hook. clientID and jti
// identify the publisher to the hook.
func (s *server) runHook(pk *packets.Packet, clientID, jti string) (onpublish.Verdict, onpublish.Outcome) {
	if len(pk.TopicName) > 0 && pk.TopicName[0] == '$' {
		return onpublish.Deliver, onpublish.OutcomeOK
	}
	b := s.node.state.Load().Broker(s.id)
	if b == nil {
		return onpublish.Deliver, onpublish.OutcomeOK
	}
	c := s.currentHook(b)
	if c == nil {
		return onpublish.Deliver, onpublish.OutcomeOK
	}
	if c.hook == nil {
		s.hook.stats.DroppedOnFailure.Add(1)
		return onpublish.Failed, onpublish.OutcomeRefused
	}
	if !c.hook.Config().Matches(pk.TopicName) {
		return onpublish.Deliver, onpublish.OutcomeOK
	}
	m := onpublish.Message{
		Topic: pk.TopicName, ClientID: clientID, JTI: jti, ReceivedAt: time.Now().Unix(),
		ContentType: pk.Properties.ContentType, PayloadFormat: pk.Properties.PayloadFormat, Payload: pk.Payload,
	}
	r := c.hook.Publish(&m)
	if r.Verdict == onpublish.Deliver && r.Changed {
		pk.Payload = r.Payload
	}
	if r.Verdict != onpublish.Deliver && pk.FixedHeader.Retain {
		s.syncRetained(pk.TopicName) // undo the retained quota's reservation
	}
	return r.Verdict, r.Outcome
}

// hookPublish is runHook for an MQTT client's publish: the error mochi
// answers it with when the hook did not let it through. A QoS 1
// publisher gets PUBACK 0x10 for a message the hook dropped on purpose,
// 0x80 when the request failed; QoS 2 PUBREC 0x80 on failure, and a
// normal flow for a message dropped on purpose (a PUBREC below 0x80 would
// have the client send a PUBREL for a message the server no longer
// holds); QoS 0, nothing.
func (s *server) hookPublish(cl *mqtt.Client, pk *packets.Packet) error {
	var clientID, jti string
	if sess := sessionOf(cl); sess != nil {
		clientID, jti = cl.ID, sess.grant.JTI
	}
	v, outcome := s.runHook(pk, clientID, jti)
	switch {
	case v == onpublish.Deliver:
		return nil
	case pk.FixedHeader.Qos == 0:
		return packets.ErrRejectPacket
	case v == onpublish.Dropped && pk.FixedHeader.Qos == 2:
		return packets.CodeSuccessIgnore
	case v == onpublish.Dropped:
		return codeHookDropped // mochi answers with it (PUBACK 0x10)
	}
	code := codeHookFailed
	code.Reason = "the on-publish hook failed (" + outcome.String() + "); the message was dropped"
	return code
}

// hookHTTPPublish is runHook for an HTTP publish: edge.ErrDropped when
// the hook dropped it, an EHOOK error when the request failed.
func (s *server) hookHTTPPublish(pk *packets.Packet, m *broker.Message) error {
	switch v, outcome := s.runHook(pk, m.ClientID, m.JTI); v {
	case onpublish.Dropped:
		return edge.ErrDropped
	case onpublish.Failed:
		return edge.HookFailed(outcome.String())
	}
	return nil
}

// hookStats returns the counters of the broker's on-publish hook, for the
// clients report, or nil when the broker has no hook and never had one
// that sent a request (the same brokers /metrics lists).
func (s *server) hookStats() *clients.HookStats {
	if !s.hooked() {
		return nil
	}
	st := &s.hook.stats
	out := &clients.HookStats{
		Requests: map[string]int64{}, Passed: st.Passed.Load(), Changed: st.Changed.Load(), DroppedByHook: st.DroppedByHook.Load(),
		DroppedOnFailure: st.DroppedOnFailure.Load(), PassedOnFailure: st.PassedOnFailure.Load(), Retries: st.Retries.Load(),
		InFlight: st.InFlight.Load(), Queued: st.Queued.Load(),
	}
	for _, o := range onpublish.Outcomes() {
		if v := st.Requests[o].Load(); v > 0 || o == onpublish.OutcomeOK {
			out.Requests[o.String()] = v
		}
	}
	return out
}

// hooked reports whether the broker has an on-publish hook, or had one
// that sent a request.
func (s *server) hooked() bool {
	return s.hook.cur.Load() != nil || s.hook.stats.Requests[onpublish.OutcomeOK].Load() > 0
}

// The on-publish hook's families, per broker that has or had a hook.
var (
	descHookRequests = newDesc("pubsub_hook_requests_total", "On-publish hook requests, retries included, by outcome.", "broker", "outcome")
	descHookDuration = newDesc("pubsub_hook_request_duration_seconds", "On-publish hook request latency, sending to the end of the answer.", "broker")
	descHookMessages = newDesc("pubsub_hook_messages_total", "Messages the on-publish hook decided, by result: passed (unchanged), changed, dropped_by_hook, dropped_on_failure, passed_on_failure (on_failure pass), closed (not sent: the hook was reconfigured or the broker went away).", "broker", "result")
	descHookRetries  = newDesc("pubsub_hook_retries_total", "On-publish hook requests retried (on_failure retry).", "broker")
	descHookInFlight = newDesc("pubsub_hook_requests_in_flight", "On-publish hook requests in flight.", "broker")
	descHookQueued   = newDesc("pubsub_hook_messages_queued", "Messages waiting for an on-publish hook request; their publishers wait too.", "broker")
)

// hookBuckets are onpublish.LatencyBuckets in seconds.
var hookBuckets = func() []float64 {
	out := make([]float64, len(onpublish.LatencyBuckets))
	for i, b := range onpublish.LatencyBuckets {
		out[i] = b.Seconds()
	}
	return out
}()

// collectHookMetrics reads the on-publish hook counters of the brokers
// that have or had a hook, every outcome and result from 0.
func collectHookMetrics(ch chan<- prometheus.Metric, servers []*server) {
	count := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range servers {
		st := &s.hook.stats
		if !s.hooked() {
			continue
		}
		host := s.hostname()
		for _, o := range onpublish.Outcomes() {
			count(descHookRequests, st.Requests[o].Load(), host, o.String())
		}
		buckets := make(map[float64]uint64, len(hookBuckets))
		var cum uint64
		for i, le := range hookBuckets {
			cum += uint64(st.Latency[i].Load())
			buckets[le] = cum
		}
		cum += uint64(st.Latency[len(hookBuckets)].Load())
		ch <- prometheus.MustNewConstHistogram(descHookDuration, cum, time.Duration(st.LatencySum.Load()).Seconds(), buckets, host)
		for _, r := range []struct {
			name string
			v    int64
		}{
			{"passed", st.Passed.Load()}, {"changed", st.Changed.Load()}, {"dropped_by_hook", st.DroppedByHook.Load()},
			{"dropped_on_failure", st.DroppedOnFailure.Load()}, {"passed_on_failure", st.PassedOnFailure.Load()}, {"closed", st.Closed.Load()},
		} {
			count(descHookMessages, r.v, host, r.name)
		}
		count(descHookRetries, st.Retries.Load(), host)
		ch <- prometheus.MustNewConstMetric(descHookInFlight, prometheus.GaugeValue, float64(st.InFlight.Load()), host)
		ch <- prometheus.MustNewConstMetric(descHookQueued, prometheus.GaugeValue, float64(st.Queued.Load()), host)
	}
}
