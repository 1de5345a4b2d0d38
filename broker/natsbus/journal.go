package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/broker"
)

// A broker's journal is a JetStream stream that captures the subjects its
// nodes already publish every message on (<prefix>.<broker id>.>, see
// link.Publish): the stream is one more subscriber of those subjects, so
// a publishing node does no extra work, and the NATS server stores each
// message once, with a stream sequence number every node reads the same.
// The stream is stored on disk, so that it outlives a restart of a NATS
// server that holds its only replica, and its limits are the SSE replay age and, per broker,
// Config.JournalMessages and Config.JournalBytes, oldest dropped first.

// journalPrefix starts the name of every journal stream.
const journalPrefix = "pubsub_sse_"

// minJournalAge is the shortest age a journal keeps its messages:
// JetStream refuses shorter ones.
const minJournalAge = time.Second

// JournalStream returns the name of the stream of a broker's journal: the
// broker id when it is a safe stream name, else a hash of it.
func JournalStream(brokerID string) string {
	for _, c := range []byte(brokerID) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			sum := sha256.Sum256([]byte(brokerID))
			return journalPrefix + "h" + hex.EncodeToString(sum[:16])
		}
	}
	return journalPrefix + brokerID
}

// Journal is a broker.Journal in a JetStream stream.
type Journal struct {
	bus    *Bus
	js     jetstream.JetStream
	id     string // the broker's
	root   string // the broker's subjects, without the final token
	name   string // the stream's
	maxAge time.Duration

	mu     sync.Mutex
	stream jetstream.Stream // nil until opened
	epoch  uint64
}

var _ broker.Journal = (*Journal)(nil)

// Journal returns the journal of broker brokerID, whose messages are kept
// for maxAge (at least a second) within the bus's per-broker limits. The
// stream is made, or its limits updated, by Open.
func (b *Bus) Journal(brokerID string, maxAge time.Duration) (*Journal, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	return &Journal{
		bus: b, js: js, id: brokerID, root: Root(b.cfg.Prefix, brokerID), name: JournalStream(brokerID),
		maxAge: max(maxAge, minJournalAge),
	}, nil
}

// Open implements broker.Journal. The epoch is the stream's creation
// time, which every node reads the same.
func (j *Journal) Open(ctx context.Context) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stream != nil {
		return j.epoch, nil
	}
	if !j.bus.nc.IsConnected() {
		return 0, ErrBusDown
	}
	cfg := jetstream.StreamConfig{
		Name:        j.name,
		Description: "Pub/Sub SSE replay journal of broker " + j.id,
		Subjects:    []string{j.root + ".>"},
		Storage:     jetstream.FileStorage,
		Replicas:    j.bus.replicas(j.bus.cfg.RetainedReplicas),
		MaxAge:      j.maxAge,
		MaxMsgs:     j.bus.cfg.JournalMessages,
		MaxBytes:    j.bus.cfg.JournalBytes,
		Discard:     jetstream.DiscardOld,
		// The nodes publish with core NATS, which expects no answer.
		NoAck: true,
	}
	// Create first, as for the retained bucket: a create of the config of
	// a stream that exists, or that another node is creating, succeeds;
	// an update follows only when its limits differ.
	s, err := j.js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = j.js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		j.bus.jsErrors.Add(1)
		return 0, fmt.Errorf("natsbus: the SSE journal: %w", err)
	}
	j.stream = s
	j.epoch = uint64(s.CachedInfo().Created.UnixNano())
	return j.epoch, nil
}

// opened returns the stream, once Open has succeeded. While NATS is
// away it fails at once, rather than hold the caller until its context
// ends.
func (j *Journal) opened() (jetstream.Stream, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stream == nil {
		return nil, errors.New("natsbus: the SSE journal is not open")
	}
	if !j.bus.nc.IsConnected() {
		return nil, ErrBusDown
	}
	return j.stream, nil
}

// Last implements broker.Journal.
func (j *Journal) Last(ctx context.Context) (uint64, error) {
	s, err := j.opened()
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		j.bus.jsErrors.Add(1)
		return 0, fmt.Errorf("natsbus: the SSE journal: %w", err)
	}
	return info.State.LastSeq, nil
}

// Follow implements broker.Journal with an ordered consumer, which
// nats.go makes again from the last sequence it delivered after a
// reconnection or a missed heartbeat.
func (j *Journal) Follow(ctx context.Context, filter string, after uint64, deliver func(broker.JournalEntry)) (func(), error) {
	subjects, err := FilterSubjects(j.root, filter)
	if err != nil {
		return nil, err
	}
	if _, err := j.opened(); err != nil {
		return nil, err
	}
	cons, err := j.js.OrderedConsumer(ctx, j.name, jetstream.OrderedConsumerConfig{
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    after + 1,
		// A node that dies leaves its consumers to the server, which
		// drops them after this long.
		InactiveThreshold: followerIdle,
	})
	if err != nil {
		j.bus.jsErrors.Add(1)
		return nil, fmt.Errorf("natsbus: following the SSE journal: %w", err)
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		if e, ok := j.entry(msg); ok {
			deliver(e)
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		j.bus.log.Debug("following the SSE journal", "broker_id", j.id, "error", err)
	}))
	if err != nil {
		j.bus.jsErrors.Add(1)
		return nil, fmt.Errorf("natsbus: following the SSE journal: %w", err)
	}
	return func() {
		cc.Stop()
		j.deleteConsumer(cons.CachedInfo())
	}, nil
}

// followerIdle is how long the server keeps a follower whose node no
// longer asks for messages.
const followerIdle = 30 * time.Second

// deleteConsumer deletes a consumer the journal no longer reads, when
// NATS is there; otherwise the server drops it once it is idle.
func (j *Journal) deleteConsumer(info *jetstream.ConsumerInfo) {
	if info == nil || !j.bus.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = j.js.DeleteConsumer(ctx, j.name, info.Name)
}

// readBatch is how many messages Read asks for at a time.
const readBatch = 256

// Read implements broker.Journal with a short-lived consumer that starts
// after after and stops at upto or at the end of the stream.
func (j *Journal) Read(ctx context.Context, filter string, after, upto uint64, limit int) ([]broker.JournalEntry, bool, error) {
	subjects, err := FilterSubjects(j.root, filter)
	if err != nil {
		return nil, false, err
	}
	s, err := j.opened()
	if err != nil {
		return nil, false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		j.bus.jsErrors.Add(1)
		return nil, false, fmt.Errorf("natsbus: the SSE journal: %w", err)
	}
	// The stream dropped messages after after: some may have been the
	// filter's.
	complete := after+1 >= info.State.FirstSeq
	if upto <= after || info.State.Msgs == 0 {
		return nil, complete, nil
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       after + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: followerIdle,
		Replicas:          1,
		MemoryStorage:     true,
	})
	if err != nil {
		j.bus.jsErrors.Add(1)
		return nil, false, fmt.Errorf("natsbus: reading the SSE journal: %w", err)
	}
	defer j.deleteConsumer(cons.CachedInfo())
	if limit <= 0 {
		limit = int(info.State.Msgs)
	}
	var out []broker.JournalEntry
	for {
		batch, err := cons.FetchNoWait(readBatch)
		if err != nil {
			return nil, false, fmt.Errorf("natsbus: reading the SSE journal: %w", err)
		}
		n, more := 0, true
		for msg := range batch.Messages() {
			n++
			e, ok := j.entry(msg)
			if !ok {
				continue
			}
			meta, _ := msg.Metadata()
			if e.Seq > upto {
				more = false
				continue // the caller has it from its live follower
			}
			if len(out) == limit {
				out, complete = append(out[:0], out[1:]...), false
			}
			out = append(out, e)
			if e.Seq == upto || meta != nil && meta.NumPending == 0 {
				more = false
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, false, fmt.Errorf("natsbus: reading the SSE journal: %w", err)
		}
		if n == 0 || !more {
			return out, complete, nil
		}
	}
}

// Delete implements broker.Journal.
func (j *Journal) Delete(ctx context.Context) error {
	j.mu.Lock()
	j.stream = nil
	j.mu.Unlock()
	err := j.js.DeleteStream(ctx, j.name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// entry decodes a message of the stream; its expiry counts from when
// the stream stored it.
func (j *Journal) entry(msg jetstream.Msg) (broker.JournalEntry, bool) {
	meta, err := msg.Metadata()
	if err != nil {
		j.bus.malformed.Add(1)
		return broker.JournalEntry{}, false
	}
	e, err := decodeEnvelope(msg.Data(), meta.Timestamp)
	if err != nil {
		j.bus.malformed.Add(1)
		return broker.JournalEntry{}, false
	}
	topic, err := TopicOf(j.root, msg.Subject())
	if err != nil {
		j.bus.malformed.Add(1)
		return broker.JournalEntry{}, false
	}
	m := e.m
	m.BrokerID, m.Topic = j.id, topic
	return broker.JournalEntry{Seq: meta.Sequence.Stream, Message: &m}, true
}
