package edge

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/openpubsub/pubsub/broker"
)

// publishResult is the answer to a publish.
type publishResult struct {
	ID       string `json:"id"`
	Topic    string `json:"topic"`
	Retained bool   `json:"retained"`
	Bytes    int    `json:"bytes"`
	// Dropped: the broker's on-publish hook left the message out.
	Dropped bool `json:"dropped,omitempty"`
}

// maxPayload returns the largest payload a PUBLISH packet of at most max
// bytes carries with this topic and these properties: the fixed header
// (type byte and a remaining length of up to four bytes), the topic with
// its length, the properties with their length, then the payload.
func maxPayload(max uint32, topic, contentType string, ttl uint32) int {
	props := 0
	if contentType != "" {
		props += 3 + len(contentType)
	}
	if ttl > 0 {
		props += 5
	}
	overhead := 1 + 4 + 2 + len(topic) + varintLen(props) + props
	return int(max) - overhead
}

func varintLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	}
	return 4
}

// servePublish serves POST /events?topic=t[&retain=true][&ttl=s]: the
// body is the payload, the request's Content-Type its MQTT Content Type.
func (s *Server) servePublish(w http.ResponseWriter, r *http.Request, b *broker.Broker) {
	q, perr := parseQuery(r.URL.RawQuery)
	if perr != nil {
		writeError(w, perr)
		return
	}
	p, perr := parsePublish(q, s.cfg.MaxTopicLevels)
	if perr != nil {
		writeError(w, perr)
		return
	}
	tok, perr := tokenOf(r, q)
	if perr != nil {
		writeError(w, perr)
		return
	}
	g, perr := s.authenticate(tok, b, time.Now())
	if perr != nil {
		writeError(w, perr)
		return
	}
	if !g.CanPublish(p.topic) {
		writeError(w, errorf(EFORBIDDEN, "the token does not allow publishing to %q", truncate(p.topic, 64)))
		return
	}
	h := s.hub(g.b)
	if h == nil {
		writeError(w, errorf(EUNAVAILABLE, "the broker is not available on this node"))
		return
	}
	// The rate is taken before the body is read, so that a refused
	// publish costs nothing more.
	if h.rate != nil {
		if ok, wait := h.rate.allow(g.TokenID(), time.Now()); !ok {
			h.limited.Add(1)
			secs := max(1, int64((wait+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			writeError(w, errorf(ERATE, "this token may publish %g messages per second (bursts of %d); retry after %d s", s.cfg.MessageRate, s.cfg.MessageBurst, secs))
			return
		}
	}
	ct := r.Header.Get("Content-Type")
	if len(ct) > 256 {
		ct = ""
	}
	limit := maxPayload(s.cfg.MaxPacketSize, p.topic, ct, p.ttl)
	if limit < 0 {
		writeError(w, errorf(ETOOLARGE, "the topic is too long for a packet of %d bytes", s.cfg.MaxPacketSize))
		return
	}
	tooLarge := errorf(ETOOLARGE, "the body is larger than %d bytes, the most a packet of %d bytes carries on this topic", limit, s.cfg.MaxPacketSize)
	if r.ContentLength > int64(limit) {
		writeError(w, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, tooLarge)
			return
		}
		writeError(w, errorf(EINVALIDPARAM, "reading the body failed"))
		return
	}
	if p.retain && len(body) == 0 {
		// MQTT's way to delete a topic's retained message; fine as it is.
		s.log.Debug("HTTP publish deletes a retained message", "topic", p.topic)
	}
	m := &broker.Message{
		BrokerID: g.b.ID, Topic: p.topic, Payload: body, Retain: p.retain,
		ClientID: g.ClientID, JTI: g.JTI, ContentType: ct,
	}
	if p.ttl > 0 {
		m.Expiry = time.Now().Add(time.Duration(p.ttl) * time.Second)
	}
	dropped := false
	if err := h.bus.Publish(m); errors.Is(err, ErrDropped) {
		dropped = true
	} else if err != nil {
		if e := (*Error)(nil); errors.As(err, &e) {
			writeError(w, e) // the broker's refusal, such as its retained quota
			return
		}
		s.log.Error("HTTP publish failed", "broker", g.b.Hostname, "topic", p.topic, "error", err)
		writeError(w, errorf(EINTERNAL, "the message could not be published"))
		return
	}
	h.publishes.Add(1)
	writeJSON(w, publishResult{ID: ulid.Make().String(), Topic: p.topic, Retained: p.retain, Bytes: len(body), Dropped: dropped})
}
