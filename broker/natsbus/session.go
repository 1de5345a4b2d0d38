package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/openpubsub/pubsub/broker"
)

// SessionBucket is the JetStream key-value bucket of the fleet's
// persistent sessions: one key per broker and client id,
// <broker id>.<client id> (each one token, as EncodeToken makes it),
// holding the session's subscriptions and owner as JSON.
const SessionBucket = "pubsub_sessions"

// Sessions is a broker.SessionStore in a JetStream key-value bucket,
// shared by every node of the fleet. Writes are compare-and-set on the
// key's last revision, so that of two nodes writing one session, the
// connection that came later wins whatever order the writes arrive in.
// A session whose connection ended is stored with a TTL of what remains
// of its expiry, so JetStream removes it when it expires; a connected one
// with its Lease plus its expiry, which its node renews.
type Sessions struct {
	bus      *Bus
	js       jetstream.JetStream
	replicas int
	bound    atomic.Pointer[sessionBucket]
	binding  chan struct{} // held while one call binds the bucket
}

type sessionBucket struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream
}

var _ broker.SessionStore = (*Sessions)(nil)

// maxSessionWrites bounds the compare-and-set attempts of one write: each
// failed one means another write of the same session came in between, or
// that the replica read from had not seen the last one yet.
const maxSessionWrites = 8

// retryWrite waits before attempt i+1 of a write or read: a random time up to
// 2^i ms, so that writers of one session do not meet again, and replicas
// catch up. It returns ctx's error if ctx ends first.
func retryWrite(ctx context.Context, i int) error {
	t := time.NewTimer(time.Duration(rand.Int64N(int64(time.Millisecond) << i)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sessions returns the fleet's session store. replicas is the bucket's
// replication, as for Retained. The bucket is made on first use.
func (b *Bus) Sessions(replicas int) (*Sessions, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	return &Sessions{bus: b, js: js, replicas: replicas, binding: make(chan struct{}, 1)}, nil
}

// bindAttempt bounds one attempt to make or bind the bucket: if JetStream
// leaves a request unanswered, a new attempt finds the bucket made.
const bindAttempt = 2 * time.Second

// bucket binds the bucket, making it if needed, with attempts of
// bindAttempt until ctx ends. One call at a time binds it; the others
// wait for it, or for their ctx.
func (s *Sessions) bucket(ctx context.Context) (*sessionBucket, error) {
	if b := s.bound.Load(); b != nil {
		return b, nil
	}
	if !s.bus.nc.IsConnected() {
		return nil, ErrBusDown
	}
	select {
	case s.binding <- struct{}{}:
		defer func() { <-s.binding }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		if b := s.bound.Load(); b != nil {
			return b, nil
		}
		actx, cancel := context.WithTimeout(ctx, bindAttempt)
		err := s.bind(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return s.bound.Load(), err
		}
	}
}

// bind makes or binds the bucket.
func (s *Sessions) bind(ctx context.Context) error {
	kv, err := keyValue(ctx, s.js, jetstream.KeyValueConfig{
		Bucket:         SessionBucket,
		Description:    "Pub/Sub persistent MQTT sessions, one key per broker and client id",
		History:        1,
		Replicas:       s.bus.replicas(s.replicas),
		LimitMarkerTTL: markerTTL,
	})
	if err != nil {
		return fmt.Errorf("natsbus: the session bucket: %w", err)
	}
	st, err := s.js.Stream(ctx, "KV_"+SessionBucket)
	if err != nil {
		return fmt.Errorf("natsbus: the session bucket: %w", err)
	}
	s.bound.Store(&sessionBucket{kv: kv, stream: st})
	return nil
}

// sessionKey returns the key of a broker's client id.
func sessionKey(brokerID, clientID string) string {
	return EncodeToken(brokerID) + "." + EncodeToken(clientID)
}

// sessionValue is a stored session, as JSON.
type sessionValue struct {
	Node         string      `json:"node"`
	At           int64       `json:"at"`     // Unix nanoseconds
	Expiry       int64       `json:"expiry"` // seconds
	Disconnected int64       `json:"disconnected,omitempty"`
	Subs         []storedSub `json:"subscriptions"`
}

// storedSub is a subscription of a stored session.
type storedSub struct {
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    byte   `json:"retain_handling,omitempty"`
	Identifier        int    `json:"identifier,omitempty"`
}

func encodeSession(s *broker.StoredSession) ([]byte, error) {
	v := sessionValue{Node: s.Node, At: s.At.UnixNano(), Expiry: int64(s.Expiry / time.Second), Subs: make([]storedSub, len(s.Subscriptions))}
	if !s.Disconnected.IsZero() {
		v.Disconnected = s.Disconnected.UnixNano()
	}
	for i, sub := range s.Subscriptions {
		v.Subs[i] = storedSub(sub)
	}
	return json.Marshal(v)
}

func decodeSession(brokerID, clientID string, data []byte) (*broker.StoredSession, error) {
	var v sessionValue
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	s := &broker.StoredSession{
		BrokerID: brokerID, ClientID: clientID, Node: v.Node, At: time.Unix(0, v.At),
		Expiry: time.Duration(v.Expiry) * time.Second, Subscriptions: make([]broker.StoredSubscription, len(v.Subs)),
	}
	if v.Disconnected != 0 {
		s.Disconnected = time.Unix(0, v.Disconnected)
	}
	for i, sub := range v.Subs {
		s.Subscriptions[i] = broker.StoredSubscription(sub)
	}
	return s, nil
}

// last reads the stored session of a client id, nil when there is none,
// and the key's last revision (0 when it never had one).
func (s *Sessions) last(ctx context.Context, b *sessionBucket, brokerID, clientID string) (*broker.StoredSession, uint64, error) {
	subject := "$KV." + SessionBucket + "." + sessionKey(brokerID, clientID)
	m, err := b.stream.GetLastMsgForSubject(ctx, subject)
	// The replicas of a bucket just made answer reads a moment later.
	for i := 1; retryable(err) && i < maxSessionWrites; i++ {
		if err := retryWrite(ctx, i); err != nil {
			return nil, 0, err
		}
		m, err = b.stream.GetLastMsgForSubject(ctx, subject)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, err
	}
	// A deletion, or the marker JetStream leaves once a TTL ran out.
	if m.Header.Get("KV-Operation") != "" || m.Header.Get(jetstream.MarkerReasonHeader) != "" || len(m.Data) == 0 {
		return nil, m.Sequence, nil
	}
	sess, err := decodeSession(brokerID, clientID, m.Data)
	if err != nil {
		s.bus.malformed.Add(1)
		return nil, m.Sequence, nil // overwritten by the next write
	}
	return sess, m.Sequence, nil
}

// counted counts a failure in the bus's JetStream errors.
func (s *Sessions) counted(err error) error {
	if err != nil {
		s.bus.jsErrors.Add(1)
	}
	return err
}

// LoadSession implements broker.SessionStore.
func (s *Sessions) LoadSession(ctx context.Context, brokerID, clientID string) (*broker.StoredSession, error) {
	if !s.bus.nc.IsConnected() {
		return nil, s.counted(ErrBusDown)
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return nil, s.counted(err)
	}
	sess, _, err := s.last(ctx, b, brokerID, clientID)
	if err != nil {
		return nil, s.counted(err)
	}
	if sess == nil || sess.Expired(time.Now()) {
		return nil, nil
	}
	return sess, nil
}

// SaveSession implements broker.SessionStore.
func (s *Sessions) SaveSession(ctx context.Context, sess *broker.StoredSession) error {
	if !s.bus.nc.IsConnected() {
		return s.counted(ErrBusDown)
	}
	data, err := encodeSession(sess)
	if err != nil {
		return err
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return s.counted(err)
	}
	subject := "$KV." + SessionBucket + "." + sessionKey(sess.BrokerID, sess.ClientID)
	for i := range maxSessionWrites {
		if i > 0 {
			if err := retryWrite(ctx, i); err != nil {
				return s.counted(err)
			}
		}
		stored, rev, err := s.last(ctx, b, sess.BrokerID, sess.ClientID)
		if err != nil {
			return s.counted(err)
		}
		if stored != nil && stored.Owner().Supersedes(sess.At, sess.Node) {
			return nil // a later connection owns it
		}
		opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(rev)}
		switch {
		case !sess.Disconnected.IsZero():
			left := time.Until(sess.Disconnected.Add(sess.Expiry))
			opts = append(opts, jetstream.WithMsgTTL(max(time.Second, left.Truncate(time.Second)+time.Second)))
		case sess.Lease > 0:
			opts = append(opts, jetstream.WithMsgTTL(max(time.Second, (sess.Lease+sess.Expiry).Truncate(time.Second))))
		}
		_, err = s.js.Publish(ctx, subject, data, opts...)
		if !retryable(err) {
			return s.counted(err)
		}
	}
	return s.counted(errors.New("natsbus: a session kept changing while it was written"))
}

// DeleteSession implements broker.SessionStore.
func (s *Sessions) DeleteSession(ctx context.Context, brokerID string, owner broker.Claim) error {
	if !s.bus.nc.IsConnected() {
		return s.counted(ErrBusDown)
	}
	b, err := s.bucket(ctx)
	if err != nil {
		return s.counted(err)
	}
	for i := range maxSessionWrites {
		if i > 0 {
			if err := retryWrite(ctx, i); err != nil {
				return s.counted(err)
			}
		}
		stored, rev, err := s.last(ctx, b, brokerID, owner.ClientID)
		if err != nil {
			return s.counted(err)
		}
		if stored == nil || stored.Owner().Supersedes(owner.At, owner.Node) {
			return nil
		}
		err = b.kv.Purge(ctx, sessionKey(brokerID, owner.ClientID), jetstream.LastRevision(rev), jetstream.PurgeTTL(markerTTL))
		if !retryable(err) {
			return s.counted(err)
		}
	}
	return s.counted(errors.New("natsbus: a session kept changing while it was deleted"))
}

// DeleteSessions implements broker.SessionStore.
func (s *Sessions) DeleteSessions(ctx context.Context, brokerID string) error {
	b, err := s.bucket(ctx)
	if err != nil {
		return s.counted(err)
	}
	return s.counted(b.stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+SessionBucket+"."+EncodeToken(brokerID)+".>")))
}

// retryable reports whether a compare-and-set write failed because the
// key changed since it was read, or because the bucket, just made, has no
// leader or replica to answer yet.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}
