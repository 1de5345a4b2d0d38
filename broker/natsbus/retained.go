package natsbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/broker"
)

// RetainedBucket is the JetStream key-value bucket of the fleet's
// retained messages: one key per broker and topic,
// <broker id>.<topic tokens> (the tokens of TopicSubject), holding the
// last retained message.
const RetainedBucket = "pubsub_retained"

// markerTTL is how long the bucket keeps the marker of a deleted or
// expired retained message, so that watchers see the deletion.
const markerTTL = time.Hour

// Retained is a broker.SharedRetainedStore in a JetStream key-value
// bucket, shared by every node of the fleet: a retained message
// published on any node is there for a subscriber on any other, also
// after its node is gone. Its values are the bus's envelope behind the
// message's absolute expiry, and a message with an expiry is stored with
// that TTL, so JetStream removes it when it expires.
type Retained struct {
	bus      *Bus
	js       jetstream.JetStream
	replicas int
	kv       atomic.Pointer[jetstream.KeyValue]
	binding  chan struct{} // held by the one call of bucket that asks JetStream
	down     atomic.Bool   // the last watch failed: new watches do not wait

	mu       sync.Mutex
	watching map[string]*progress // broker id → its watch's progress
}

// progress is how far a broker's watch has applied the bucket: the
// revision of the last entry it applied. Retain waits on it, so that a
// change the node writes is applied here, after every older one, before
// Retain returns: without that wait, the watch's late copy of the node's
// previous write would, applied after the node's PUBACK of the next one,
// bring the previous message back for a while.
type progress struct {
	mu      sync.Mutex
	rev     uint64
	advance chan struct{} // closed and replaced when rev grows
}

func newProgress() *progress { return &progress{advance: make(chan struct{})} }

// applied records that the watch applied revision rev.
func (p *progress) applied(rev uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rev > p.rev {
		p.rev = rev
		close(p.advance)
		p.advance = make(chan struct{})
	}
}

// wait returns once revision rev is applied, or after at most limit, or
// when ctx ends.
func (p *progress) wait(ctx context.Context, rev uint64, limit time.Duration) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		p.mu.Lock()
		done, advance := p.rev >= rev, p.advance
		p.mu.Unlock()
		if done {
			return
		}
		select {
		case <-advance:
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// appliedWait bounds how long Retain waits for the node's own watch to
// apply what it wrote; a watch that lags more is left behind.
const appliedWait = 2 * time.Second

// ErrBusDown is returned by the store while the node has no NATS
// connection: the message stays in this node's memory only.
var ErrBusDown = errors.New("natsbus: not connected to NATS")

var _ broker.SharedRetainedStore = (*Retained)(nil)

// Retained returns the fleet's retained message store. replicas is the
// bucket's replication (R3 on a three-server cluster); 0 picks 3 when
// NATS reports three servers or more, else 1. The bucket is made, or its
// replication updated, on first use.
func (b *Bus) Retained(replicas int) (*Retained, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	return &Retained{bus: b, js: js, replicas: replicas, binding: make(chan struct{}, 1)}, nil
}

// keyValue makes the bucket of cfg, or binds it and updates its
// configuration if it exists.
func keyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	// Create first: a create of the same config as a bucket that exists,
	// or is being created by another node, succeeds; an update (what
	// CreateOrUpdateKeyValue tries first) of a replicated stream that
	// another node is creating is left unanswered until its deadline.
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.UpdateKeyValue(ctx, cfg) // another replication
	}
	return kv, err
}

// bucket binds the bucket, making it if needed. One call at a time asks
// JetStream, so that the watches of the brokers a node starts at once
// and their first retained publishes make one request, not one each.
func (r *Retained) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	if kv := r.kv.Load(); kv != nil {
		return *kv, nil
	}
	select {
	case r.binding <- struct{}{}:
		defer func() { <-r.binding }()
	case <-ctx.Done():
		return nil, fmt.Errorf("natsbus: the retained message bucket: %w", ctx.Err())
	}
	if kv := r.kv.Load(); kv != nil {
		return *kv, nil
	}
	kv, err := keyValue(ctx, r.js, jetstream.KeyValueConfig{
		Bucket:         RetainedBucket,
		Description:    "Pub/Sub retained messages, one key per broker and topic",
		History:        1,
		Replicas:       r.bus.replicas(r.replicas),
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: the retained message bucket: %w", err)
	}
	r.kv.Store(&kv)
	return kv, nil
}

// key returns the key of a broker's topic.
func key(brokerID, topic string) (string, error) {
	return TopicSubject(EncodeToken(brokerID), topic)
}

// Retain implements broker.RetainedStore. When this node watches the
// broker's retained messages, it returns once the watch has applied the
// change (within appliedWait), so that from the publisher's PUBACK on no
// older change of the topic can come after it here.
func (r *Retained) Retain(ctx context.Context, m *broker.Message) (err error) {
	defer func() {
		if err != nil {
			r.bus.jsErrors.Add(1)
		}
	}()
	if !r.bus.nc.IsConnected() {
		// Fail now rather than hold the publisher until ctx ends.
		return ErrBusDown
	}
	kv, err := r.bucket(ctx)
	if err != nil {
		return err
	}
	k, err := key(m.BrokerID, m.Topic)
	if err != nil {
		return err
	}
	var rev uint64
	switch now := time.Now(); {
	case len(m.Payload) == 0:
		// kv.Purge's message (a purge marker that rolls up the key's
		// history, kept for markerTTL), published here for its revision.
		msg := nats.NewMsg("$KV." + RetainedBucket + "." + k)
		msg.Header.Set("KV-Operation", "PURGE")
		msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		ack, err := r.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(markerTTL))
		if err != nil {
			return err
		}
		rev = ack.Sequence
	case m.Expiry.IsZero():
		if rev, err = kv.Put(ctx, k, r.value(m, now)); err != nil {
			return err
		}
	default:
		ttl := max(time.Second, m.Expiry.Sub(now).Round(time.Second))
		ack, err := r.js.Publish(ctx, "$KV."+RetainedBucket+"."+k, r.value(m, now), jetstream.WithMsgTTL(ttl))
		if err != nil {
			return err
		}
		rev = ack.Sequence
	}
	r.mu.Lock()
	p := r.watching[m.BrokerID]
	r.mu.Unlock()
	if p != nil && !r.down.Load() {
		p.wait(ctx, rev, appliedWait)
	}
	return nil
}

// value is what the bucket keeps of m: its absolute expiry, then the
// bus's envelope.
func (r *Retained) value(m *broker.Message, now time.Time) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(max(0, unixOrZero(m.Expiry))))
	return appendEnvelope(v, r.bus.cfg.NodeID, m, now)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// decodeRetained reads a stored value.
func decodeRetained(brokerID, k string, v []byte, now time.Time) (*broker.Message, error) {
	if len(v) < 8 {
		return nil, errEnvelope
	}
	exp := int64(binary.BigEndian.Uint64(v))
	e, err := decodeEnvelope(v[8:], now)
	if err != nil {
		return nil, err
	}
	topic, err := TopicOf(EncodeToken(brokerID), k)
	if err != nil {
		return nil, err
	}
	m := e.m
	m.BrokerID, m.Topic, m.Retain, m.Expiry = brokerID, topic, true, time.Time{}
	if exp > 0 {
		m.Expiry = time.Unix(exp, 0)
	}
	return &m, nil
}

// Retained implements broker.RetainedStore.
func (r *Retained) Retained(ctx context.Context, brokerID, filter string) ([]*broker.Message, error) {
	kv, err := r.bucket(ctx)
	if err != nil {
		return nil, err
	}
	filters, err := FilterSubjects(EncodeToken(brokerID), filter)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	now := time.Now()
	var out []*broker.Message
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("natsbus: the retained message watch ended")
			}
			if e == nil {
				return out, nil
			}
			m, err := decodeRetained(brokerID, e.Key(), e.Value(), now)
			if err != nil {
				r.bus.malformed.Add(1)
				continue
			}
			if m.Expiry.IsZero() || m.Expiry.After(now) {
				out = append(out, m)
			}
		}
	}
}

// DeleteRetained implements broker.RetainedStore.
func (r *Retained) DeleteRetained(ctx context.Context, brokerID string) error {
	if _, err := r.bucket(ctx); err != nil {
		return err
	}
	s, err := r.js.Stream(ctx, "KV_"+RetainedBucket)
	if err != nil {
		return err
	}
	return s.Purge(ctx, jetstream.WithPurgeSubject("$KV."+RetainedBucket+"."+EncodeToken(brokerID)+".>"))
}

// WatchRetained implements broker.SharedRetainedStore. loaded is closed
// at once while the node has no NATS connection, or while JetStream
// failed the last watch, so that nobody waits for it then.
func (r *Retained) WatchRetained(brokerID string, apply func(m *broker.Message)) (<-chan struct{}, func()) {
	wctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	markLoaded := func() { once.Do(func() { close(loaded) }) }
	if r.down.Load() || !r.bus.nc.IsConnected() {
		r.bus.log.Warn("serving without the fleet's retained messages until JetStream answers", "broker_id", brokerID)
		markLoaded()
	}
	p := newProgress()
	r.mu.Lock()
	if r.watching == nil {
		r.watching = map[string]*progress{}
	}
	r.watching[brokerID] = p
	r.mu.Unlock()
	go func() {
		defer close(done)
		defer func() {
			r.mu.Lock()
			if r.watching[brokerID] == p {
				delete(r.watching, brokerID)
			}
			r.mu.Unlock()
		}()
		r.watch(wctx, brokerID, apply, markLoaded, p)
	}()
	return loaded, stopWatch(cancel, done)
}

// stopWatch returns the function that ends a watch.
func stopWatch(cancel func(), done <-chan struct{}) func() {
	return func() {
		cancel()
		<-done
	}
}

// watch follows the broker's keys until ctx ends, starting over after a
// failure; loaded is called after the first initial load, and after the
// first failure.
func (r *Retained) watch(ctx context.Context, brokerID string, apply func(*broker.Message), loaded func(), p *progress) {
	prefix := EncodeToken(brokerID)
	for ctx.Err() == nil {
		err := r.watchOnce(ctx, brokerID, prefix, apply, loaded, p)
		if ctx.Err() != nil {
			return
		}
		r.down.Store(true)
		loaded() // waiting for it is pointless now
		r.bus.jsErrors.Add(1)
		r.bus.log.Warn("watching retained messages; retrying", "broker_id", brokerID, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (r *Retained) watchOnce(ctx context.Context, brokerID, prefix string, apply func(*broker.Message), loaded func(), p *progress) error {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	kv, err := r.bucket(tctx)
	cancel()
	if err != nil {
		return err
	}
	w, err := kv.Watch(ctx, prefix+".>")
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("the watch ended")
			}
			if e == nil {
				r.down.Store(false)
				loaded()
				continue
			}
			r.applyEntry(brokerID, prefix, e, apply)
			p.applied(e.Revision())
		}
	}
}

// applyEntry applies one entry of the watch: a stored message, or the
// deletion of one.
func (r *Retained) applyEntry(brokerID, prefix string, e jetstream.KeyValueEntry, apply func(*broker.Message)) {
	if e.Operation() != jetstream.KeyValuePut {
		topic, err := TopicOf(prefix, e.Key())
		if err != nil || !strings.HasPrefix(e.Key(), prefix+".") {
			return
		}
		apply(&broker.Message{BrokerID: brokerID, Topic: topic, Retain: true})
		return
	}
	m, err := decodeRetained(brokerID, e.Key(), e.Value(), time.Now())
	if err != nil {
		r.bus.malformed.Add(1)
		return
	}
	apply(m)
}
