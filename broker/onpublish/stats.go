package onpublish

import (
	"sync/atomic"
	"time"
)

// Outcome is how a request ended.
type Outcome uint8

const (
	OutcomeOK         Outcome = iota // 200 with a valid body
	OutcomeTimeout                   // no full answer within the timeout
	OutcomeConnection                // the connection failed or was refused
	OutcomeStatus5xx                 // a 5xx status
	OutcomeStatus                    // another status that is not 200 (a redirect included)
	OutcomeInvalid                   // the body is not a JSON array of messages
	OutcomeOversized                 // the body is over MaxResponseBytes
	OutcomeRefused                   // an http:// hook resolved to a public address
	OutcomeClosed                    // the hook was closed (reconfigured) before sending
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "timeout", "connection", "status_5xx", "status", "invalid", "oversized", "refused", "closed"}

// String names the outcome as metrics label it.
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// Outcomes lists every outcome, in order.
func Outcomes() []Outcome {
	out := make([]Outcome, numOutcomes)
	for i := range out {
		out[i] = Outcome(i)
	}
	return out
}

func (o Outcome) retriable() bool {
	return o == OutcomeTimeout || o == OutcomeConnection || o == OutcomeStatus5xx
}

// LatencyBuckets are the upper bounds of the request latency histogram.
var LatencyBuckets = []time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Stats are one broker's hook counters. They outlive a Hook: a broker
// whose hook is reconfigured keeps counting in the same Stats.
type Stats struct {
	Requests [numOutcomes]atomic.Int64 // by outcome, retries included
	// Latency counts requests by LatencyBuckets (the last slot: over the
	// last bound); LatencySum is their total, in nanoseconds.
	Latency    [14]atomic.Int64
	LatencySum atomic.Int64

	Passed           atomic.Int64 // delivered unchanged by the hook's answer
	Changed          atomic.Int64 // delivered with the hook's payload
	DroppedByHook    atomic.Int64 // left out of the answer
	DroppedOnFailure atomic.Int64 // dropped because the request failed
	PassedOnFailure  atomic.Int64 // delivered unchanged because the request failed (on_failure pass)
	Retries          atomic.Int64
	Closed           atomic.Int64 // messages a closing hook did not send

	InFlight atomic.Int64 // requests in flight
	Queued   atomic.Int64 // messages waiting for a request
}

func (s *Stats) observe(o Outcome, d time.Duration) {
	s.Requests[o].Add(1)
	if o == OutcomeRefused {
		return
	}
	i := 0
	for i < len(LatencyBuckets) && d > LatencyBuckets[i] {
		i++
	}
	s.Latency[i].Add(1)
	s.LatencySum.Add(int64(d))
}

func (s *Stats) count(r Result) {
	switch {
	case r.Verdict == Dropped:
		s.DroppedByHook.Add(1)
	case r.Changed:
		s.Changed.Add(1)
	default:
		s.Passed.Add(1)
	}
}
