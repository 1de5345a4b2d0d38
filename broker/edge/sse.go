package edge

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/broker"
)

// item is one event queued for a stream: the event, and the index of the
// filter it came through, whose cursor it advances.
type item struct {
	idx int
	ev  *event
}

// client is one SSE stream. Its goroutine (the request's) is the only
// writer to the connection; deliveries only push to its queue, and a
// queue that overflows ends the stream rather than slowing the publisher.
type client struct {
	hub    *hub
	g      *grant
	subs   []*subscription
	cursor []uint64 // per filter; written only by the client's goroutine once attached
	q      chan item

	// remote, since and filters describe the stream for Streams; set at
	// its start, never changed.
	remote  string
	since   time.Time
	filters []string

	endOnce sync.Once
	quit    chan struct{}
	why     *Error // set before quit closes

	mu    sync.Mutex
	timer *time.Timer // the token's deadline
	ended bool
}

// push queues an event without blocking; a full queue ends the stream.
func (c *client) push(it item) {
	select {
	case c.q <- it:
	default:
		if c.end(errSlow) {
			c.hub.evicted.Add(1)
		}
	}
}

// end ends the stream with why, once; it never blocks, so it can be
// called under any lock. It reports whether this call ended it.
func (c *client) end(why *Error) bool {
	first := false
	c.endOnce.Do(func() {
		first = true
		c.why = why
		close(c.quit)
	})
	return first
}

// Grant returns the stream's grant (broker.Session).
func (c *client) Grant() *broker.Grant { return c.g.Grant }

// End ends the stream for r (broker.Session).
func (c *client) End(r *broker.Refusal) { c.end(streamError(r)) }

// Schedule arms the token deadline, replacing an earlier one
// (broker.Session).
func (c *client) Schedule(d time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if !d.IsZero() {
		c.timer = time.AfterFunc(time.Until(d), func() { c.End(broker.RefuseExpired) })
	}
}

func (c *client) stopTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

// sink is where a stream writes: the hijacked connection of an HTTP/1.1
// request (which frees net/http's buffers and goroutine for the stream's
// life), or the ResponseWriter of an HTTP/2 stream, which cannot be
// hijacked.
type sink interface {
	// write writes p as one chunk and sends it, within the timeout.
	write(p []byte) error
	// finish ends the response cleanly, as far as the client still reads.
	finish()
	// gone is closed when the client is known to have gone away; nil when
	// only a failing write tells.
	gone() <-chan struct{}
}

// rawSink writes an HTTP/1.1 chunked response on a hijacked connection.
type rawSink struct {
	conn    net.Conn
	timeout time.Duration
}

func (s *rawSink) write(p []byte) error {
	if s.timeout > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	}
	chunk := make([]byte, 0, len(p)+16)
	chunk = strconv.AppendInt(chunk, int64(len(p)), 16)
	chunk = append(chunk, "\r\n"...)
	chunk = append(chunk, p...)
	chunk = append(chunk, "\r\n"...)
	_, err := s.conn.Write(chunk)
	return err
}

func (s *rawSink) finish() {
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(s.conn, "0\r\n\r\n")
	_ = s.conn.Close()
}

func (s *rawSink) gone() <-chan struct{} { return nil }

// flushSink streams through a ResponseWriter (HTTP/2).
type flushSink struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	done <-chan struct{}
	tout time.Duration
}

func (s *flushSink) write(p []byte) error {
	if s.tout > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.tout))
	}
	if _, err := s.w.Write(p); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *flushSink) finish()               {}
func (s *flushSink) gone() <-chan struct{} { return s.done }

// sseHeaders are the response headers of a stream.
func sseHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Tells nginx and similar proxies not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")
}

// authorizeRead parses a request that reads topics (an SSE stream, the
// retained messages), verifies its token and checks that the token may
// subscribe to every filter it names; it returns the filters, the grant
// and the broker's hub, or the error to answer with.
func (s *Server) authorizeRead(r *http.Request, b *broker.Broker) (subscribeParams, *grant, *hub, *Error) {
	q, perr := parseQuery(r.URL.RawQuery)
	if perr != nil {
		return subscribeParams{}, nil, nil, perr
	}
	p, perr := parseSubscribe(q, s.cfg.MaxTopics, s.cfg.MaxTopicLevels)
	if perr != nil {
		return p, nil, nil, perr
	}
	tok, perr := tokenOf(r, q)
	if perr != nil {
		return p, nil, nil, perr
	}
	g, perr := s.authenticate(tok, b, time.Now())
	if perr != nil {
		return p, nil, nil, perr
	}
	for _, f := range p.filters {
		if !g.CanSubscribe(f) {
			return p, nil, nil, errorf(EFORBIDDEN, "the token does not allow subscribing to %q", truncate(f, 64))
		}
	}
	h := s.hub(g.b)
	if h == nil {
		return p, nil, nil, errorf(EUNAVAILABLE, "the broker is not available on this node")
	}
	return p, g, h, nil
}

// serveSSE serves GET /events: checks come first, each with its HTTP
// status; once the stream has started, an error is an event
// (stream-error) and the end of the stream.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	p, g, h, perr := s.authorizeRead(r, b)
	if perr == nil {
		perr = h.open(r.Context())
	}
	if perr != nil {
		writeError(w, perr)
		return
	}
	lastID := r.Header.Get("Last-Event-ID")
	if p.lastEventID != "" {
		lastID = p.lastEventID
	}

	c := &client{hub: h, g: g, cursor: make([]uint64, len(p.filters)), q: make(chan item, s.cfg.ClientQueue), quit: make(chan struct{}),
		remote: r.RemoteAddr, since: time.Now(), filters: p.filters}
	if err := h.register(c); err != nil {
		writeError(w, err)
		return
	}
	// cleanup runs when the stream ends, on whichever goroutine runs it.
	var cleanup []func()
	handedOff := false
	defer func() {
		if !handedOff {
			for _, f := range slices.Backward(cleanup) {
				f()
			}
		}
	}()
	cleanup = append(cleanup, func() {
		c.stopTimer()
		h.unregister(c)
	})
	epoch, from, known := parseEventID(lastID, len(p.filters))
	known = known && epoch == h.epoch
	resume := lastID != ""
	var missed []item
	var stale []string // filters whose missed messages the buffer could not cover
	live := make([]uint64, len(p.filters))
	for i, f := range p.filters {
		sub, err := h.acquire(r.Context(), f)
		if err != nil {
			c.end(err)
			break
		}
		c.subs = append(c.subs, sub)
		var at uint64
		if known {
			at = from[i]
		}
		m, start, gap, l, read := sub.attach(c, i, at, known, resume)
		if read > start {
			var older []*event
			older, gap = s.readJournal(r.Context(), h, f, start, read)
			if gap && older == nil {
				start = read // the journal did not answer
			}
			m = append(older, m...)
		}
		for _, ev := range m {
			missed = append(missed, item{idx: i, ev: ev})
		}
		c.cursor[i], live[i] = start, l
		if gap || !resume {
			stale = append(stale, f)
		}
	}
	cleanup = append(cleanup, func() {
		for _, sub := range c.subs {
			sub.detach(c)
			h.release(sub)
		}
	})
	slices.SortFunc(missed, func(a, b item) int { return cmpUint(a.ev.seq, b.ev.seq) })
	var retained []*broker.Message
	if p.durable {
		now := time.Now()
		for _, f := range stale {
			for _, m := range h.bus.Retained(f) {
				if m.Expiry.IsZero() || m.Expiry.After(now) {
					retained = append(retained, m)
				}
			}
		}
		slices.SortFunc(retained, func(a, b *broker.Message) int { return cmpString(a.Topic, b.Topic) })
	}

	out, err := s.startStream(w, r)
	if err != nil {
		return
	}
	h.streams.Add(1)
	if _, raw := out.(*rawSink); raw {
		// The connection is ours now: stream from a fresh goroutine and
		// let net/http's goroutine return, which frees its buffers, the
		// request and the deep stack the TLS handshake grew (about half
		// of what a stream would otherwise hold).
		handedOff = true
		go func() {
			defer func() {
				for _, f := range slices.Backward(cleanup) {
					f()
				}
			}()
			s.stream(c, out, p.filters, missed, retained, live)
		}()
		return
	}
	s.stream(c, out, p.filters, missed, retained, live)
}

// readJournal returns the events of filter in (after, upto] from the
// fleet's journal, at most ReplayCount (the newest), and whether some
// may be missing: the journal no longer held them, there were more, or
// it could not be read (then it returns nil).
func (s *Server) readJournal(ctx context.Context, h *hub, filter string, after, upto uint64) ([]*event, bool) {
	ctx, cancel := context.WithTimeout(ctx, journalTimeout)
	defer cancel()
	entries, complete, err := h.journal.Read(ctx, filter, after, upto, s.cfg.ReplayCount)
	if err != nil {
		s.log.Warn("reading the SSE journal", "broker_id", h.id, "filter", filter, "error", err)
		return nil, true
	}
	now := time.Now()
	out := make([]*event, 0, len(entries))
	for _, e := range entries {
		if ev := newEvent(e.Seq, e.Message, now); ev != nil {
			out = append(out, ev)
		}
	}
	return out, !complete
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// startStream sends the response headers and returns the stream's sink.
func (s *Server) startStream(w http.ResponseWriter, r *http.Request) (sink, error) {
	if r.ProtoMajor == 1 {
		if hj, ok := w.(http.Hijacker); ok {
			conn, brw, err := hj.Hijack()
			if err != nil {
				return nil, err
			}
			// A GET has no body, so nothing is lost with net/http's buffer.
			var hdr []byte
			hdr = append(hdr, "HTTP/1.1 200 OK\r\n"...)
			h := http.Header{}
			sseHeaders(h)
			for k, v := range w.Header() {
				h[k] = v
			}
			h.Set("Transfer-Encoding", "chunked")
			h.Set("Connection", "close")
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
			hb := &headerBuf{b: hdr}
			_ = h.Write(hb)
			hb.b = append(hb.b, "\r\n"...)
			_ = brw // released with the request; the stream writes to conn
			_ = conn.SetReadDeadline(time.Time{})
			_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if _, err := conn.Write(hb.b); err != nil {
				conn.Close()
				return nil, err
			}
			return &rawSink{conn: conn, timeout: s.cfg.WriteTimeout}, nil
		}
	}
	sseHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return nil, err
	}
	return &flushSink{w: w, rc: rc, done: r.Context().Done(), tout: s.cfg.WriteTimeout}, nil
}

type headerBuf struct{ b []byte }

func (h *headerBuf) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

func (h *headerBuf) WriteString(s string) (int, error) {
	h.b = append(h.b, s...)
	return len(s), nil
}

// stream runs a started stream until it ends: the opening event, what
// the client missed, then live events and keep-alives.
func (s *Server) stream(c *client, out sink, filters []string, missed []item, retained []*broker.Message, live []uint64) {
	defer out.finish()
	h := c.hub
	buf := make([]byte, 0, 512)
	buf = appendControlEvent(buf, appendEventID(nil, h.epoch, c.cursor), "stream-open", map[string]any{"topics": filters})
	for _, m := range retained {
		buf = append(buf, "id: "...)
		buf = appendEventID(buf, h.epoch, c.cursor)
		buf = append(buf, '\n')
		buf = appendEventBody(buf, m.Payload)
	}
	for _, it := range missed {
		buf = s.appendQueued(buf, c, it)
	}
	for i, l := range live {
		c.cursor[i] = max(c.cursor[i], l)
	}
	if err := out.write(buf); err != nil {
		return
	}
	// A pooled buffer would save little: events are written as they come.
	ka := time.NewTimer(s.cfg.KeepAlive)
	defer ka.Stop()
	for {
		select {
		case it := <-c.q:
			buf = buf[:0]
			buf = s.appendQueued(buf, c, it)
			// Batch what else is queued into the same write.
		drain:
			for len(buf) < 32<<10 {
				select {
				case it := <-c.q:
					buf = s.appendQueued(buf, c, it)
				default:
					break drain
				}
			}
			if err := out.write(buf); err != nil {
				return
			}
			if cap(buf) > 64<<10 {
				buf = make([]byte, 0, 512)
			}
		case <-ka.C:
			if err := out.write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
		case <-c.quit:
			e := c.why
			_ = out.write(appendControlEvent(nil, nil, "stream-error", envelope{
				Errors: []envelopeError{{Code: e.info().Number, Message: e.Message}}, Messages: []any{},
			}))
			return
		case <-out.gone():
			return
		}
		ka.Reset(s.cfg.KeepAlive)
	}
}

func (s *Server) appendQueued(b []byte, c *client, it item) []byte {
	if it.ev.seq <= c.cursor[it.idx] {
		return b // replayed already
	}
	c.cursor[it.idx] = it.ev.seq
	return appendItem(b, c.hub.epoch, c.cursor, it.ev)
}

func appendItem(b []byte, epoch uint64, cursor []uint64, ev *event) []byte {
	b = append(b, "id: "...)
	b = appendEventID(b, epoch, cursor)
	b = append(b, '\n')
	return append(b, ev.body...)
}
