package onpublish

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Verdict is what becomes of a message.
type Verdict uint8

const (
	// Deliver: subscribers get the message, with Result.Payload.
	Deliver Verdict = iota
	// Dropped: the hook left the message out of its answer (or changed
	// its topic or mid).
	Dropped
	// Failed: the request failed and OnFailure dropped the message.
	Failed
)

// Result is the hook's verdict on one message.
type Result struct {
	Verdict Verdict
	// Payload is what subscribers get when Verdict is Deliver: the
	// hook's payload, or the original.
	Payload []byte
	// Changed reports that the hook changed the payload.
	Changed bool
	// Outcome names a failure (see Outcome) when the request failed,
	// whether the message was dropped or passed.
	Outcome Outcome
}

// Hook sends one broker's messages to its on-publish URL.
type Hook struct {
	cfg    Config
	url    *url.URL
	client *http.Client
	stats  *Stats

	queue chan *item
	slots chan struct{} // one per request in flight
	done  chan struct{} // closed by Close
	ended chan struct{} // closed when the dispatcher has returned
	once  sync.Once
	ctx   context.Context // canceled by Close once the requests drain
	stop  context.CancelFunc
	wg    sync.WaitGroup // requests in flight

	entering atomic.Int64  // enqueue calls in progress
	inFlight atomic.Int64  // this Hook's requests in flight
	finished chan struct{} // a request ended (capacity 1)
	full     chan struct{} // a full batch is queued (capacity 1)
}

// item is one message waiting for its verdict; res is buffered so that
// the sender never waits for the publisher.
type item struct {
	msg  Message // a copy, so that the caller's Message stays on its stack
	res  chan Result
	wait bool // false in Notify mode: nobody reads res
}

var itemPool = sync.Pool{New: func() any { return &item{res: make(chan Result, 1)} }}

// New returns the hook described by cfg, or an error naming what is wrong
// with it (the URL, its scheme, the key, a filter). stats may be shared
// by the successive Hooks of one broker; nil makes a new one.
func New(cfg Config, stats *Stats) (*Hook, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if stats == nil {
		stats = new(Stats)
	}
	ctx, stop := context.WithCancel(context.Background())
	h := &Hook{
		cfg: cfg, url: u, client: newClient(&cfg), stats: stats,
		queue: make(chan *item, cfg.MaxBatch*cfg.MaxInFlight),
		slots: make(chan struct{}, cfg.MaxInFlight),
		done:  make(chan struct{}), ended: make(chan struct{}),
		finished: make(chan struct{}, 1), full: make(chan struct{}, 1),
		ctx: ctx, stop: stop,
	}
	go h.dispatch()
	return h, nil
}

// Config returns the hook's configuration, defaults filled in.
func (h *Hook) Config() *Config { return &h.cfg }

// Stats returns the hook's counters.
func (h *Hook) Stats() *Stats { return h.stats }

// Publish sends m to the hook (with the other messages waiting at the
// time) and returns the verdict. It blocks while the hook's queue is full
// and until the hook answers, fails, or is closed. In Notify mode it
// returns Deliver at once, unless the queue is full, where it waits for
// room. m must not change until Publish returns; in Notify mode Publish
// copies what it needs.
func (h *Hook) Publish(m *Message) Result {
	if h.cfg.Mode == Notify {
		it := &item{msg: *m}
		it.msg.Payload = append([]byte(nil), m.Payload...)
		if !h.enqueue(it) {
			h.stats.Closed.Add(1)
		}
		return Result{Verdict: Deliver, Payload: m.Payload}
	}
	it := itemPool.Get().(*item)
	it.msg, it.wait = *m, true
	var r Result
	if h.enqueue(it) {
		r = <-it.res
	} else {
		h.stats.Closed.Add(1)
		r = h.failed(m, OutcomeClosed)
	}
	it.msg = Message{}
	itemPool.Put(it)
	return r
}

// enqueue queues it, waiting for room; false once the hook is closed.
// The entering count lets the closing dispatcher wait for the enqueuers
// that might still put an item in the queue after its last look at it.
func (h *Hook) enqueue(it *item) bool {
	h.entering.Add(1)
	defer h.entering.Add(-1)
	select {
	case <-h.done:
		return false
	default:
	}
	h.stats.Queued.Add(1)
	select {
	case h.queue <- it:
		if len(h.queue) >= h.cfg.MaxBatch {
			signal(h.full)
		}
		return true
	case <-h.done:
		h.stats.Queued.Add(-1)
		return false
	}
}

// Close stops taking messages and returns once the requests in flight
// have ended (each within its timeout, retries included). The messages
// still queued get OnFailure's verdict with OutcomeClosed. Safe to call
// twice.
func (h *Hook) Close() {
	h.once.Do(func() { close(h.done) })
	<-h.ended
	h.wg.Wait()
	h.stop()
	h.client.CloseIdleConnections()
}

// Abort is Close for a broker that goes away: it also cancels the
// requests in flight, whose messages get OnFailure's verdict with
// OutcomeClosed, so that it returns at once.
func (h *Hook) Abort() {
	h.stop()
	h.Close()
}

// signal wakes the dispatcher without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// dispatch gathers the queued messages into batches and starts a request
// for each, at most MaxInFlight at a time. While a request is out, it
// starts another only for a full batch: its publishers wait for their
// verdicts, so the messages that arrive meanwhile are few unless many
// clients publish, and they go out together when a request ends.
// Batching costs no timer, and a slow hook still gets MaxInFlight
// requests once MaxBatch messages queue up.
func (h *Hook) dispatch() {
	defer close(h.ended)
	var carry *item
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-h.queue:
			case <-h.done:
				h.drain(nil)
				return
			}
		}
		for h.inFlight.Load() > 0 && len(h.queue)+1 < h.cfg.MaxBatch {
			select {
			case <-h.finished:
			case <-h.full:
			case <-h.done:
				h.drain([]*item{first})
				return
			}
		}
		select {
		case h.slots <- struct{}{}:
		case <-h.done:
			h.drain([]*item{first})
			return
		}
		batch := []*item{first}
		size := first.msg.size()
	gather:
		for len(batch) < h.cfg.MaxBatch {
			select {
			case it := <-h.queue:
				if size+it.msg.size() > h.cfg.MaxBatchBytes {
					carry = it
					break gather
				}
				batch = append(batch, it)
				size += it.msg.size()
			default:
				break gather
			}
		}
		h.stats.Queued.Add(-int64(len(batch)))
		h.stats.InFlight.Add(1)
		h.inFlight.Add(1)
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.send(batch)
			h.stats.InFlight.Add(-1)
			h.inFlight.Add(-1)
			<-h.slots
			signal(h.finished)
		}()
	}
}

// drain gives the messages left at Close OnFailure's verdict. done is
// closed, so an enqueue that starts now queues nothing; drain waits for
// those that started before.
func (h *Hook) drain(left []*item) {
	for {
		select {
		case it := <-h.queue:
			left = append(left, it)
			continue
		default:
		}
		if h.entering.Load() == 0 && len(h.queue) == 0 {
			break
		}
		runtime.Gosched()
	}
	h.stats.Queued.Add(-int64(len(left)))
	for _, it := range left {
		h.stats.Closed.Add(1)
		if it.wait {
			it.res <- h.failed(&it.msg, OutcomeClosed)
		}
	}
}

// failed is the verdict on a message whose request failed.
func (h *Hook) failed(m *Message, o Outcome) Result {
	if h.cfg.OnFailure == FailPass {
		h.stats.PassedOnFailure.Add(1)
		return Result{Verdict: Deliver, Payload: m.Payload, Outcome: o}
	}
	h.stats.DroppedOnFailure.Add(1)
	return Result{Verdict: Failed, Outcome: o}
}

// send makes the request for a batch, with its retries, and hands each
// message its verdict.
func (h *Hook) send(batch []*item) {
	msgs := make([]*Message, len(batch))
	for i, it := range batch {
		msgs[i] = &it.msg
	}
	body := encodeBatch(msgs, h.cfg.Broker)
	var (
		ans     *answer
		outcome Outcome
	)
	for attempt := 0; ; attempt++ {
		start := time.Now()
		ans, outcome = h.do(h.ctx, body, msgs)
		h.stats.observe(outcome, time.Since(start))
		if outcome == OutcomeOK || h.cfg.OnFailure != FailRetry || !outcome.retriable() || attempt >= h.cfg.Retries {
			break
		}
		h.stats.Retries.Add(1)
		select {
		case <-time.After(backoff(attempt)):
		case <-h.ctx.Done():
		}
	}
	for i, it := range batch {
		var r Result
		if outcome != OutcomeOK {
			r = h.failed(&it.msg, outcome)
		} else {
			r = ans.verdict(i, &it.msg)
			h.stats.count(r)
		}
		if it.wait {
			it.res <- r
		}
	}
}

// backoff is the wait before retry attempt+1: 100 ms, 200 ms, 400 ms, …,
// at most 2 s.
func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<attempt, 2*time.Second)
}
