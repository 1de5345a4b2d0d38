package edge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// hub fans one broker's messages out to its SSE streams. It holds one
// subscription on the broker's bus per topic filter that any stream
// names, however many streams name it: a message costs one delivery from
// the MQTT server, one rendering, then one queue push per stream. Each
// subscription keeps its recent events for reconnecting clients.
//
// Locking: hub.mu, then subscription.mu, then client.mu. Deliveries take
// only the subscription's lock, so different filters never contend. No
// lock is held across a call into the bus: config changes (enforce)
// take hub.mu, and must not wait on one filter's Subscribe.
type hub struct {
	srv   *Server
	id    string // broker id
	bus   Bus
	rate  *limiter      // nil: no message rate
	epoch uint64        // in a fleet, the journal's, set once by open
	seq   atomic.Uint64 // the last sequence number handed out, without a journal

	// journal, in a fleet, is the broker's log shared by the nodes: the
	// subscriptions follow it instead of the bus, and their events carry
	// its sequence numbers. nil on a node that runs alone.
	journal broker.Journal
	jmu     sync.Mutex
	opened  bool     // the journal is open and epoch is its; guarded by jmu
	opening *opening // the open under way, if any; guarded by jmu

	sessions broker.Sessions // the streams, for enforcement

	mu     sync.Mutex
	closed bool
	subs   map[string]*subscription // by filter

	// Counters for /metrics.
	streams   atomic.Int64 // streams opened
	evicted   atomic.Int64 // streams ended for being too slow
	publishes atomic.Int64 // HTTP publishes accepted
	limited   atomic.Int64 // HTTP publishes refused for the message rate
	wsConns   atomic.Int64 // WebSocket connections open
	wsTotal   atomic.Int64 // WebSocket connections accepted
}

func newHub(srv *Server, id string, bus Bus) *hub {
	var e [8]byte
	_, _ = rand.Read(e[:])
	h := &hub{
		srv: srv, id: id, bus: bus, epoch: binary.BigEndian.Uint64(e[:]),
		subs: map[string]*subscription{},
	}
	if srv.cfg.MessageRate > 0 {
		h.rate = newLimiter(srv.cfg.MessageRate, srv.cfg.MessageBurst, maxRateBuckets)
	}
	if jb, ok := bus.(JournaledBus); ok && srv.cfg.ReplayCount > 0 {
		h.journal = jb.Journal()
	}
	return h
}

// journalTimeout bounds each call into the journal a stream's start
// makes.
const journalTimeout = 5 * time.Second

// errNoJournal refuses a stream while the fleet's journal cannot be
// reached: its events would have no id another node could resume from.
var errNoJournal = &Error{EUNAVAILABLE, "the fleet's SSE journal is not reachable (NATS); try again"}

// open opens the broker's journal, in a fleet, once: its epoch becomes
// the hub's. It is called before a stream reads the hub's epoch. One
// request opens it, without holding jmu over the call; the others wait
// for its result, as long as their own request lasts.
func (h *hub) open(ctx context.Context) *Error {
	if h.journal == nil {
		return nil
	}
	h.jmu.Lock()
	if h.opened {
		h.jmu.Unlock()
		return nil
	}
	if p := h.opening; p != nil {
		h.jmu.Unlock()
		select {
		case <-p.done:
			return p.err
		case <-ctx.Done():
			return errNoJournal
		}
	}
	p := &opening{done: make(chan struct{})}
	h.opening = p
	h.jmu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), journalTimeout)
	defer cancel()
	epoch, err := h.journal.Open(ctx)
	h.jmu.Lock()
	if err != nil {
		h.srv.log.Warn("opening the SSE journal", "broker_id", h.id, "error", err)
		p.err = errNoJournal
	} else {
		h.epoch, h.opened = epoch, true
	}
	h.opening = nil
	h.jmu.Unlock()
	close(p.done)
	return p.err
}

// opening is an open of the journal under way, and its outcome once done
// is closed.
type opening struct {
	done chan struct{}
	err  *Error
}

// follow makes subscription s follow the journal from its newest
// message on.
func (h *hub) follow(s *subscription) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), journalTimeout)
	defer cancel()
	last, err := h.journal.Last(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.floor, s.last = last, last
	s.mu.Unlock()
	return h.journal.Follow(ctx, s.filter, last, s.deliverEntry)
}

// event is one message as SSE clients get it, rendered once.
type event struct {
	seq  uint64
	at   int64  // Unix nanoseconds, for the replay buffer's age bound
	body []byte // from the event line to the blank line; the id goes before
}

// subscription is one filter's subscription on the bus, its replay
// buffer and the streams that receive it.
type subscription struct {
	hub    *hub
	filter string
	refs   int // streams attached or attaching; guarded by hub.mu
	linger *time.Timer

	// ready is closed once the bus subscription is made (or failed, then
	// err is set). cancel and err are written before, and read after.
	ready  chan struct{}
	cancel func() // ends the bus subscription; nil until ready, guarded by hub.mu
	err    *Error

	mu      sync.Mutex
	clients map[*client]int // the stream, and the filter's index in its cursor
	ring    []*event        // oldest first, at most ReplayCount
	bytes   int             // sum of the ring's bodies
	floor   uint64          // no event after floor has left the ring
	last    uint64          // the newest event's seq, or floor
}

var errNoBroker = &Error{EUNAVAILABLE, "the broker is not available on this node"}

// acquire returns the subscription of filter, making it on first use,
// and counts one more stream on it. The bus subscription is made without
// hub.mu held, which enforcement and the other filters' streams take:
// a slow Subscribe (a deep filter, many retained messages) only delays
// the streams that wait for this filter, and those stop waiting when
// their request ends.
func (h *hub) acquire(ctx context.Context, filter string) (*subscription, *Error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errNoBroker
	}
	if s := h.subs[filter]; s != nil {
		s.refs++
		if s.linger != nil {
			s.linger.Stop()
			s.linger = nil
		}
		h.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			h.release(s)
			return nil, errorf(EUNAVAILABLE, "the request ended before the subscription was made")
		}
		if s.err != nil {
			return nil, s.err
		}
		return s, nil
	}
	s := &subscription{hub: h, filter: filter, clients: map[*client]int{}, refs: 1, ready: make(chan struct{})}
	s.floor = h.seq.Load()
	s.last = s.floor
	h.subs[filter] = s
	h.mu.Unlock()

	var cancel func()
	var err error
	if h.journal != nil {
		cancel, err = h.follow(s)
	} else {
		cancel, err = h.bus.Subscribe(filter, s.deliver)
	}

	h.mu.Lock()
	switch {
	case err != nil && h.journal != nil:
		h.srv.log.Warn("following the SSE journal", "filter", filter, "error", err)
		s.err = errNoJournal
	case err != nil:
		h.srv.log.Error("subscribing the SSE hub", "filter", filter, "error", err)
		s.err = errorf(EINTERNAL, "internal error")
	case h.closed || h.subs[filter] != s:
		// The hub closed meanwhile, and dropped s without a cancel to call.
		s.err = errNoBroker
	default:
		s.cancel = cancel
	}
	if s.err != nil && h.subs[filter] == s {
		delete(h.subs, filter)
	}
	h.mu.Unlock()
	close(s.ready)
	if s.err != nil {
		if err == nil {
			cancel()
		}
		return nil, s.err
	}
	return s, nil
}

// release undoes acquire. A subscription nobody streams stays for
// ReplayAge, so that clients reconnecting meanwhile miss nothing.
func (h *hub) release(s *subscription) {
	h.mu.Lock()
	s.refs--
	if s.refs > 0 || h.closed || h.subs[s.filter] != s || s.cancel == nil {
		// Still used, already dropped, or still being made: its maker
		// keeps a reference until it is ready.
		h.mu.Unlock()
		return
	}
	if age := h.srv.cfg.ReplayAge; age > 0 && h.srv.cfg.ReplayCount > 0 {
		s.linger = time.AfterFunc(age, func() { h.drop(s) })
		h.mu.Unlock()
		return
	}
	cancel := h.dropLocked(s)
	h.mu.Unlock()
	cancel()
}

func (h *hub) drop(s *subscription) {
	h.mu.Lock()
	if s.refs != 0 || h.subs[s.filter] != s {
		h.mu.Unlock()
		return
	}
	cancel := h.dropLocked(s)
	h.mu.Unlock()
	cancel()
}

// dropLocked forgets a ready subscription and returns the cancel of its
// bus subscription, for the caller to call once it has released hub.mu.
func (h *hub) dropLocked(s *subscription) func() {
	delete(h.subs, s.filter)
	if s.linger != nil {
		s.linger.Stop()
	}
	return s.cancel
}

// deliver is the bus callback: it runs on the publisher's goroutine, so
// it renders the event once and only pushes it to each stream's queue.
func (s *subscription) deliver(m *broker.Message) { s.add(0, m) }

// deliverEntry is the journal's callback, in a fleet: the event's
// sequence number is the journal's.
func (s *subscription) deliverEntry(e broker.JournalEntry) { s.add(e.Seq, e.Message) }

// newEvent renders message m as event seq; nil when m has expired.
func newEvent(seq uint64, m *broker.Message, now time.Time) *event {
	if !m.Expiry.IsZero() && !m.Expiry.After(now) {
		return nil
	}
	return &event{seq: seq, at: now.UnixNano(), body: appendEventBody(make([]byte, 0, len(m.Payload)+32), m.Payload)}
}

// add stores and pushes message m as event seq, or as the hub's next
// sequence number when seq is 0.
func (s *subscription) add(seq uint64, m *broker.Message) {
	h := s.hub
	cfg := &h.srv.cfg
	now := time.Now()
	ev := newEvent(seq, m, now)
	if ev == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 {
		ev.seq = h.seq.Add(1)
	} else if seq <= s.last {
		return // before the subscription's start: the client reads it from the journal
	}
	s.last = ev.seq
	if cfg.ReplayCount > 0 {
		s.ring = append(s.ring, ev)
		s.bytes += len(ev.body)
		s.trim(now)
	} else {
		s.floor = ev.seq
	}
	for c, i := range s.clients {
		c.push(item{idx: i, ev: ev})
	}
}

// trim drops the events the replay bounds no longer allow.
func (s *subscription) trim(now time.Time) {
	cfg := &s.hub.srv.cfg
	old := now.Add(-cfg.ReplayAge).UnixNano()
	n := 0
	for n < len(s.ring) && (len(s.ring)-n > cfg.ReplayCount || s.bytes > cfg.ReplayBytes || s.ring[n].at < old) {
		s.bytes -= len(s.ring[n].body)
		s.floor = s.ring[n].seq
		s.ring[n] = nil
		n++
	}
	if n > 0 {
		// Shift rather than reslice, so the backing array does not grow
		// without bound.
		s.ring = s.ring[:copy(s.ring, s.ring[n:])]
	}
}

// attach adds stream c as the idx-th filter of its cursor and returns
// the events it missed: those after from when from is a position of this
// hub the buffer still covers (known), or every event held when the
// client was subscribed before at a position the buffer cannot tell
// (resume). start is the cursor value before the missed events, gap
// reports that messages may have been lost, and live is the cursor value
// from which the stream's queue takes over. In a fleet, a known position
// older than the buffer is read from the journal: read, above start,
// says that the client also missed the journal's events in (start, read].
func (s *subscription) attach(c *client, idx int, from uint64, known, resume bool) (missed []*event, start uint64, gap bool, live, read uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trim(time.Now())
	start = s.last
	switch {
	case known && from >= s.floor:
		start = from
		for _, ev := range s.ring {
			if ev.seq > from {
				missed = append(missed, ev)
			}
		}
	case known && s.hub.journal != nil:
		start, read = from, s.floor
		missed = append(missed, s.ring...)
	case known || resume:
		start, gap = s.floor, true
		missed = append(missed, s.ring...)
	}
	s.clients[c] = idx
	return missed, start, gap, s.last, read
}

func (s *subscription) detach(c *client) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// register indexes a stream for enforcement, unless the broker's current
// configuration refuses its token already (broker.Sessions.Register).
func (h *hub) register(c *client) *Error {
	current := func() *broker.Broker { return h.srv.backend.State().Broker(h.id) }
	if r := h.sessions.Register(c, current, time.Now(), h.srv.cfg.TokenLeeway); r != nil {
		return refusalError(r)
	}
	return nil
}

func (h *hub) unregister(c *client) { h.sessions.Unregister(c) }

// errSlow ends a stream that fell too far behind.
var errSlow = &Error{ESLOW, "the stream fell too far behind; reconnect with Last-Event-ID to resume"}

// enforce ends the streams broker nb no longer accepts, as the node does
// for MQTT sessions (broker.Sessions.Enforce).
func (h *hub) enforce(ob, nb *broker.Broker, now time.Time) {
	h.sessions.Enforce(ob, nb, now, h.srv.cfg.TokenLeeway)
}

// close ends every stream with why and forgets every subscription. It
// returns the cancels of their bus subscriptions, for the caller to run
// where it can afford to wait on the bus. A subscription still being
// made is ended by its maker, which finds the hub closed.
func (h *hub) close(why *broker.Refusal) (cancels []func()) {
	h.sessions.Close(why)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	for _, s := range h.subs {
		if s.cancel != nil {
			cancels = append(cancels, h.dropLocked(s))
		}
	}
	clear(h.subs)
	return cancels
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}

// sseClients returns the number of open streams.
func (h *hub) sseClients() int { return h.sessions.Len() }
