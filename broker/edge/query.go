package edge

import (
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/openpubsub/pubsub/pkg/topic"
)

// subscribeParams are the parameters of GET /events.
type subscribeParams struct {
	// filters are the distinct topic filters, sorted, without those
	// another filter of the request covers (a/b when a/# is there): the
	// order event ids list their cursors in.
	filters []string
	durable bool
	// lastEventID is the lastEventId parameter, which EventSource
	// polyfills send instead of the header; "" when absent.
	lastEventID string
}

// publishParams are the parameters of POST /events.
type publishParams struct {
	topic  string
	retain bool
	ttl    uint32 // seconds; 0 for none
}

// parseQuery parses a raw query string. Unlike url.ParseQuery it refuses
// a malformed one rather than dropping the bad parts, so that a typo is
// reported instead of silently ignored.
func parseQuery(raw string) (url.Values, *Error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errorf(EINVALIDPARAM, "the query string is malformed: %s", queryError(err))
	}
	return q, nil
}

// queryError returns the part of a url.ParseQuery error worth showing,
// without echoing arbitrary amounts of the query.
func queryError(err error) string {
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return "invalid escape " + strconv.Quote(truncate(string(ee), 16))
	}
	if strings.Contains(err.Error(), "semicolon") {
		return "it contains a semicolon; separate parameters with &"
	}
	return "it cannot be decoded"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// parseBool reads a boolean parameter: absent is false, and so is a
// bare "?retain"; true, 1, false and 0 are accepted, anything else is
// an error rather than a silent false.
func parseBool(q url.Values, name string) (bool, *Error) {
	v, ok := q[name]
	if !ok {
		return false, nil
	}
	switch strings.ToLower(v[len(v)-1]) {
	case "true", "1", "":
		return v[len(v)-1] != "", nil
	case "false", "0":
		return false, nil
	}
	return false, errorf(EINVALIDPARAM, "%s must be true or false, not %q", name, truncate(v[len(v)-1], 32))
}

// parseSubscribe reads the parameters of an SSE subscription.
func parseSubscribe(q url.Values, maxTopics, maxLevels int) (subscribeParams, *Error) {
	var p subscribeParams
	raw := q["topic"]
	if len(raw) == 0 {
		return p, errorf(EMISSINGTOPIC, "name at least one topic: /events?topic=a&topic=b")
	}
	seen := make(map[string]bool, len(raw))
	for _, f := range raw {
		if seen[f] {
			continue
		}
		seen[f] = true
		if len(seen) > maxTopics {
			return p, errorf(ETOOMANYTOPICS, "at most %d distinct topics per request", maxTopics)
		}
		if err := topic.ValidateFilter(f); err != nil {
			return p, errorf(EINVALIDTOPIC, "%v", err)
		}
		if err := topic.CheckLevels(f, true, maxLevels); err != nil {
			return p, errorf(EINVALIDTOPIC, "%v (at most %d)", err, maxLevels)
		}
		if f == "$share" || strings.HasPrefix(f, "$share/") {
			return p, errorf(EINVALIDTOPIC, "topic filter %q: shared subscriptions are for MQTT clients", truncate(f, 64))
		}
		p.filters = append(p.filters, f)
	}
	p.filters = reduceFilters(p.filters)
	var err *Error
	if p.durable, err = parseBool(q, "durable"); err != nil {
		return p, err
	}
	if v := q["lastEventId"]; len(v) > 0 {
		p.lastEventID = v[0]
	}
	return p, nil
}

// reduceFilters sorts the filters and drops each one another covers, so
// that a message reaches a stream once per filter that still matters.
func reduceFilters(fs []string) []string {
	slices.Sort(fs)
	out := fs[:0:0]
	for i, f := range fs {
		covered := false
		for j, g := range fs {
			if i != j && topic.Covers(g, f) && (!topic.Covers(f, g) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, f)
		}
	}
	return out
}

// parsePublish reads the parameters of an HTTP publish.
func parsePublish(q url.Values, maxLevels int) (publishParams, *Error) {
	var p publishParams
	switch t := q["topic"]; len(t) {
	case 0:
		return p, errorf(EMISSINGTOPIC, "name the topic to publish to: /events?topic=a")
	case 1:
		p.topic = t[0]
	default:
		return p, errorf(EINVALIDPARAM, "publish to one topic per request, not %d", len(t))
	}
	if err := topic.ValidateName(p.topic); err != nil {
		return p, errorf(EINVALIDTOPIC, "%v", err)
	}
	if err := topic.CheckLevels(p.topic, false, maxLevels); err != nil {
		return p, errorf(EINVALIDTOPIC, "%v (at most %d)", err, maxLevels)
	}
	var err *Error
	if p.retain, err = parseBool(q, "retain"); err != nil {
		return p, err
	}
	if v, ok := q["ttl"]; ok {
		s := v[len(v)-1]
		n, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil || n == 0 {
			return p, errorf(EINVALIDPARAM, "ttl must be a whole number of seconds from 1 to 4294967295, not %q", truncate(s, 32))
		}
		p.ttl = uint32(n)
	}
	return p, nil
}
