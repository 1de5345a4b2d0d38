package natsbus

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/openpubsub/pubsub/broker"
)

// interest is one filter, for one group ("" for ordinary subscribers).
type interest struct{ filter, group string }

// link is a node's membership in one broker's fan-out (broker.Link).
//
// Every NATS subscription of a link feeds one channel, in the order the
// connection received the messages, so that one goroutine delivers them
// in order. A message matching several of the link's filters arrives
// once per subscription: the sequence number each publishing node gives
// the broker's messages drops the copies.
type link struct {
	bus     *Bus
	id      string // the broker's
	root    string
	deliver func(*broker.Message, string)
	ch      chan *nats.Msg
	kick    chan struct{} // wakes follow; holds one signal at most
	done    chan struct{}
	exited  sync.WaitGroup
	once    sync.Once

	pubMu sync.Mutex // keeps seq in the order messages reach NATS
	seq   uint64

	mu     sync.Mutex
	refs   map[interest]int                  // the node's subscriptions per filter
	dirty  map[interest]struct{}             // refs that went to or from zero since follow looked
	subs   map[interest][]*nats.Subscription // what NATS has; changed by follow only
	gone   uint64                            // drops of the subscriptions removed
	closed bool

	last map[string]uint64 // per origin, the last sequence number delivered; receive only

	claimSubject string             // where the broker's client id claims travel
	claimSub     *nats.Subscription // nil without a claimed function
}

func newLink(b *Bus, brokerID string, deliver func(*broker.Message, string)) *link {
	l := &link{
		bus: b, id: brokerID, root: Root(b.cfg.Prefix, brokerID), deliver: deliver,
		ch: make(chan *nats.Msg, b.cfg.ReceiveBuffer), kick: make(chan struct{}, 1), done: make(chan struct{}),
		refs: map[interest]int{}, dirty: map[interest]struct{}{}, subs: map[interest][]*nats.Subscription{},
		last:         map[string]uint64{},
		claimSubject: b.cfg.Prefix + "-claims." + EncodeToken(brokerID),
	}
	l.exited.Add(2)
	return l
}

// maxPooled is the largest envelope buffer kept for reuse.
const maxPooled = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Publish implements broker.Link.
func (l *link) Publish(m *broker.Message) error {
	subject, err := TopicSubject(l.root, m.Topic)
	if err != nil {
		l.bus.pubDrops.Add(1)
		return err
	}
	bp := bufPool.Get().(*[]byte)
	buf := appendEnvelope((*bp)[:0], l.bus.cfg.NodeID, m, time.Now())
	// nats.go copies the message into its write buffer, under its own
	// lock, and flushes it from its own goroutine: Publish blocks only
	// while that buffer is full. This lock adds no wait of its own.
	l.pubMu.Lock()
	l.seq++
	binary.BigEndian.PutUint64(buf[seqOffset:], l.seq)
	err = l.bus.nc.Publish(subject, buf)
	l.pubMu.Unlock()
	if cap(buf) <= maxPooled {
		*bp = buf
		bufPool.Put(bp)
	}
	if err != nil {
		l.bus.pubDrops.Add(1)
		return err
	}
	l.bus.published.Add(1)
	return nil
}

// AddInterest implements broker.Link.
func (l *link) AddInterest(filter, group string) { l.change(interest{filter, group}, 1) }

// RemoveInterest implements broker.Link.
func (l *link) RemoveInterest(filter, group string) { l.change(interest{filter, group}, -1) }

func (l *link) change(k interest, d int) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	was := l.refs[k]
	n := max(0, was+d)
	if n == 0 {
		delete(l.refs, k)
	} else {
		l.refs[k] = n
	}
	if (was == 0) != (n == 0) {
		l.dirty[k] = struct{}{}
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// follow makes the link's NATS subscriptions follow its interests, one
// change at a time, without holding the link's lock over a NATS call.
func (l *link) follow() {
	defer l.exited.Done()
	type step struct {
		k          interest
		want, have bool
	}
	var steps []step
	for {
		select {
		case <-l.done:
			l.mu.Lock()
			subs := l.subs
			l.subs = map[interest][]*nats.Subscription{}
			l.mu.Unlock()
			for _, ss := range subs {
				l.unsubscribe(ss)
			}
			return
		case <-l.kick:
		}
		steps = steps[:0]
		l.mu.Lock()
		for k := range l.dirty {
			steps = append(steps, step{k, l.refs[k] > 0, l.subs[k] != nil})
		}
		clear(l.dirty)
		l.mu.Unlock()
		for _, s := range steps {
			switch {
			case s.want && !s.have:
				ss := l.subscribe(s.k)
				l.mu.Lock()
				l.subs[s.k] = ss
				l.mu.Unlock()
			case !s.want && s.have:
				l.mu.Lock()
				ss := l.subs[s.k]
				delete(l.subs, s.k)
				l.mu.Unlock()
				l.unsubscribe(ss)
			}
		}
	}
}

// subscribe subscribes to the subjects of one interest; nil if it
// cannot, which it logs (a filter too long for a subject: its topics
// reach only the node they are published on).
func (l *link) subscribe(k interest) []*nats.Subscription {
	subjects, err := FilterSubjects(l.root, k.filter)
	if err != nil {
		l.bus.log.Warn("cannot follow a filter on NATS: other nodes' messages will not reach it", "filter", k.filter, "error", err)
		return nil
	}
	out := make([]*nats.Subscription, 0, len(subjects))
	for _, subj := range subjects {
		var sub *nats.Subscription
		if k.group == "" {
			sub, err = l.bus.nc.ChanSubscribe(subj, l.ch)
		} else {
			sub, err = l.bus.gc.ChanQueueSubscribe(subj, EncodeToken(k.group), l.ch)
		}
		if err != nil {
			l.bus.log.Error("subscribing on NATS", "subject", subj, "error", err)
			continue
		}
		out = append(out, sub)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (l *link) unsubscribe(ss []*nats.Subscription) {
	for _, sub := range ss {
		if n, err := sub.Dropped(); err == nil && n > 0 {
			l.mu.Lock()
			l.gone += uint64(n)
			l.mu.Unlock()
		}
		_ = sub.Unsubscribe()
	}
}

// slowDrops counts the messages lost for a full receive buffer.
func (l *link) slowDrops() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.gone
	for _, ss := range l.subs {
		for _, sub := range ss {
			if d, err := sub.Dropped(); err == nil {
				n += uint64(d)
			}
		}
	}
	return n
}

// subscriptions counts the link's NATS subscriptions.
func (l *link) subscriptions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ss := range l.subs {
		n += len(ss)
	}
	return n
}

// maxOrigins bounds the publishing nodes a link remembers; past it the
// memory starts again (nodes get a new id at each start, so old ones
// pile up), at the risk of one duplicate per node.
const maxOrigins = 4096

// receive hands the messages of other nodes to the node, in order.
func (l *link) receive() {
	defer l.exited.Done()
	for {
		select {
		case <-l.done:
			return
		case msg := <-l.ch:
			l.handle(msg)
		}
	}
}

func (l *link) handle(msg *nats.Msg) {
	now := time.Now()
	e, err := decodeEnvelope(msg.Data, now)
	if err != nil {
		l.bus.malformed.Add(1)
		return
	}
	group := ""
	if msg.Sub != nil && msg.Sub.Queue != "" {
		// A shared group's message, which NATS gave this node's member:
		// this node's own messages included.
		group, _ = DecodeToken(msg.Sub.Queue)
	} else {
		if string(e.origin) == l.bus.cfg.NodeID {
			return // an echo: NoEcho makes NATS skip them, but be sure
		}
		// Copies of one message for overlapping filters arrive one after
		// the other, before the origin's next message: keep the first.
		if last, ok := l.last[string(e.origin)]; ok && e.seq <= last {
			return
		}
		if len(l.last) >= maxOrigins {
			clear(l.last)
		}
		l.last[string(e.origin)] = e.seq
	}
	topic, err := TopicOf(l.root, msg.Subject)
	if err != nil {
		l.bus.malformed.Add(1)
		return
	}
	e.m.BrokerID, e.m.Topic = l.id, topic
	if !e.m.Expiry.IsZero() && !e.m.Expiry.After(now) {
		return
	}
	l.bus.received.Add(1)
	l.deliver(&e.m, group)
}

// Close implements broker.Link: it drops the link's NATS subscriptions
// and waits until no delivery is under way.
func (l *link) Close() {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		if l.claimSub != nil {
			_ = l.claimSub.Unsubscribe()
		}
		close(l.done)
		l.exited.Wait()
		l.bus.forget(l)
	})
}

// Claim implements broker.Link.
func (l *link) Claim(clientID string, at time.Time) error {
	b := binary.BigEndian.AppendUint64([]byte{envelopeVersion}, uint64(at.UnixNano()))
	b = appendString(b, l.bus.cfg.NodeID)
	b = append(b, clientID...)
	return l.bus.nc.Publish(l.claimSubject, b)
}

// decodeClaim reads what Claim sends.
func decodeClaim(b []byte) (broker.Claim, error) {
	if len(b) < 9 || b[0] != envelopeVersion {
		return broker.Claim{}, errEnvelope
	}
	r := reader{b: b[9:]}
	node := r.field()
	if r.bad {
		return broker.Claim{}, errEnvelope
	}
	return broker.Claim{ClientID: string(r.b), Node: string(node), At: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:])))}, nil
}
