package onpublish

import (
	"context"
	"net/http"
	"time"
)

// Probe is the result of Try: one request's status, latency and what its
// answer does to each message.
type Probe struct {
	Status  int // the HTTP status; 0 when there was no answer
	Latency time.Duration
	Outcome Outcome
	Results []Result // by mid, when Outcome is OutcomeOK
}

// Try sends msgs to cfg's hook in one signed request, as a Hook would,
// without retries or batching, and reports what the answer would do:
// what `pubsub broker hook-test` shows. It returns New's errors.
func Try(ctx context.Context, cfg Config, msgs []*Message) (*Probe, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Hook{cfg: cfg, url: u, client: newClient(&cfg), stats: new(Stats)}
	defer h.client.CloseIdleConnections()
	var status int
	h.client.Transport = statusRecorder{h.client.Transport, &status}
	start := time.Now()
	ans, outcome := h.do(ctx, encodeBatch(msgs, cfg.Broker), msgs)
	p := &Probe{Status: status, Latency: time.Since(start), Outcome: outcome}
	if outcome == OutcomeOK {
		for i, m := range msgs {
			p.Results = append(p.Results, ans.verdict(i, m))
		}
	}
	return p, nil
}

// statusRecorder notes the status of the response it passes on.
type statusRecorder struct {
	rt     http.RoundTripper
	status *int
}

func (s statusRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.rt.RoundTrip(r)
	if res != nil {
		*s.status = res.StatusCode
	}
	return res, err
}
