package suite

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/target"
)

// Latency at common rates (issue 20): each broker's half-rate run paces
// it at half of its own max, so a faster broker is measured under more
// load than a slower one, and on two shared cores that mostly measures
// the scheduler. After the max-rate searches of every broker in a round,
// the scenarios with CommonRates measure every broker again at the same
// offered rates, fractions of Mosquitto's max in that round, and our p99
// is judged against theirs.

// refBroker is the broker whose max rate the common rates are fractions
// of; when its max is unknown, the slowest broker's is used instead.
const refBroker = "mosquitto"

// RateLatency is one latency run at a rate offered to every broker of a
// round alike.
type RateLatency struct {
	// Fraction of Reference's sustained rate in the same round.
	Fraction  float64 `json:"fraction"`
	Reference string  `json:"reference"`
	// Fallback says Reference is the slowest broker of the round,
	// Mosquitto's max being unknown (not selected, or its search failed).
	Fallback bool `json:"fallback,omitempty"`
	// Rate is the offered deliveries/s, Got those delivered in the window.
	Rate         float64       `json:"rate"`
	Got          float64       `json:"got,omitempty"`
	Drops        float64       `json:"drops,omitempty"`
	Latency      hist.Snapshot `json:"latency"`
	Silent       int           `json:"silent,omitempty"`
	Disconnected int           `json:"disconnected,omitempty"`
	Error        string        `json:"error,omitempty"`
}

// commonReference picks the rate the common rates of a round are
// fractions of, from that round's results of one scenario: Mosquitto's
// sustained max, or, when it has none, the slowest broker's. max is 0
// when no broker has one.
func commonReference(round []Result) (ref string, max float64, fallback bool) {
	for _, res := range round {
		if res.Broker == refBroker && res.Error == "" && res.Skipped == "" && res.MaxRate > 0 {
			return res.Broker, res.MaxRate, false
		}
	}
	for _, res := range round {
		if res.Error == "" && res.Skipped == "" && res.MaxRate > 0 && (max == 0 || res.MaxRate < max) {
			ref, max = res.Broker, res.MaxRate
		}
	}
	return ref, max, max > 0
}

// runCommonRates measures every broker's latency at the common rates of
// a round whose max-rate searches are done, in the round's order of the
// brokers, and adds the runs to each broker's result of the round.
func (r *Runner) runCommonRates(ctx context.Context, s Scenario, round int) error {
	var these []Result
	for _, res := range r.Results {
		if res.Scenario == s.Name && res.Round == round {
			these = append(these, res)
		}
	}
	ref, refMax, fallback := commonReference(these)
	if refMax == 0 {
		r.logf("  %s round %d: no broker has a sustained rate, so none is measured at common rates", s.Name, round)
		return nil
	}
	for _, b := range roundOrder(r.brokers, round) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.SSE && b.Name() != "pubsub" {
			continue // only Pub/Sub has an HTTP edge
		}
		runs := r.runCommon(ctx, s, b, round, ref, refMax, fallback)
		for i := range r.Results {
			if res := &r.Results[i]; res.Scenario == s.Name && res.Round == round && res.Broker == b.Name() {
				res.Common = runs
			}
		}
		for _, c := range runs {
			r.logf("  → %s %s #%d: %s", s.Name, b.Name(), round, c.summary())
		}
	}
	return nil
}

// runCommon runs the latency runs of the common rates on a freshly
// started broker, lowest rate first.
func (r *Runner) runCommon(ctx context.Context, s Scenario, b target.Broker, round int, ref string, refMax float64, fallback bool) []RateLatency {
	runs := make([]RateLatency, len(r.cfg.CommonFractions))
	for i, f := range r.cfg.CommonFractions {
		runs[i] = RateLatency{Fraction: f, Reference: ref, Fallback: fallback, Rate: f * refMax}
	}
	slices.SortFunc(runs, func(a, b RateLatency) int { return cmp.Compare(a.Rate, b.Rate) })
	var res Result // collects connect errors
	fail := func(err error) []RateLatency {
		msg := err.Error()
		if len(res.Errors) > 0 {
			msg += " (" + strings.Join(res.Errors, "; ") + ")"
		}
		for i := range runs {
			if runs[i].Latency.Count == 0 && runs[i].Error == "" {
				runs[i].Error = msg
			}
		}
		return runs
	}
	r.logf("%s on %s, round %d: latency at %s of %s's max (%s/s)", s.Name, b.Name(), round, fractions(r.cfg.CommonFractions), ref, num(refMax))
	if err := b.Start(ctx); err != nil {
		return fail(err)
	}
	defer b.Stop()
	pool, reconnect, err := r.throughputClients(ctx, s, b, &res)
	if err != nil {
		return fail(err)
	}
	defer pool.Stop()
	defer pool.CloseClients(context.Background())
	for i := range runs {
		c := &runs[i]
		spec := load.RunSpec{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, Drain: 3 * time.Second, PayloadSize: r.cfg.PayloadSize,
			Rate: c.Rate / float64(s.Fanout) / float64(s.Publishers)}
		run, err := pool.Run(ctx, spec)
		if err != nil {
			return fail(err)
		}
		c.Got = float64(run.ReceivedWindow) / r.cfg.Duration.Seconds()
		c.Drops = drops(run, s.Fanout)
		c.Latency = run.Latency
		c.Silent, c.Disconnected = run.Silent, run.Disconnected
		if (run.Silent > 0 || run.Disconnected > 0) && i < len(runs)-1 {
			if err := reconnect(); err != nil {
				return fail(err)
			}
		}
	}
	return runs
}

func (c RateLatency) summary() string {
	head := fmt.Sprintf("%s of %s's max, %s/s", pctLabel(c.Fraction), c.Reference, num(c.Rate))
	if c.Error != "" {
		return head + ": ERROR: " + c.Error
	}
	return fmt.Sprintf("%s: got %s/s, p50 %v p99 %v p99.9 %v (drops %s, %d silent, %d gone)", head, num(c.Got),
		ms(c.Latency.Quantile(0.5)), ms(c.Latency.Quantile(0.99)), ms(c.Latency.Quantile(0.999)), pct(c.Drops), c.Silent, c.Disconnected)
}

// pctLabel writes a fraction as a percentage: 0.1 is "10%".
func pctLabel(f float64) string { return fmt.Sprintf("%g%%", 100*f) }

func fractions(fs []float64) string {
	var out []string
	for _, f := range fs {
		out = append(out, pctLabel(f))
	}
	return strings.Join(out, " and ")
}

// commonAgg is one broker's runs at one common rate over the rounds.
type commonAgg struct {
	rates, got, drops []float64
	latency           hist.Snapshot
	refs              []string // the reference brokers, each once
	fallback          bool
	errors            []string
}

func (c *commonAgg) add(round int, rl RateLatency) {
	if !slices.Contains(c.refs, rl.Reference) {
		c.refs = append(c.refs, rl.Reference)
	}
	c.fallback = c.fallback || rl.Fallback
	if rl.Error != "" {
		c.errors = append(c.errors, fmt.Sprintf("round %d: %s", round, rl.Error))
		return
	}
	c.rates = append(c.rates, rl.Rate)
	c.got = append(c.got, rl.Got)
	c.drops = append(c.drops, rl.Drops)
	c.latency.Merge(rl.Latency)
}

// commonOf returns a's runs at common rate f with data, or nil.
func commonOf(a *agg, f float64) *commonAgg {
	if a == nil || a.common[f] == nil || a.common[f].latency.Count == 0 {
		return nil
	}
	return a.common[f]
}

// commonRef says what the scenario's common rate f is a fraction of,
// over every broker and round: Mosquitto's max, or the slowest broker's.
func commonRef(ag map[[2]string]*agg, s string, names []string, f float64) (label string, fallback bool) {
	var refs []string
	for _, b := range names {
		if a := ag[[2]string{s, b}]; a != nil && a.common[f] != nil {
			c := a.common[f]
			fallback = fallback || c.fallback
			for _, ref := range c.refs {
				if !slices.Contains(refs, ref) {
					refs = append(refs, ref)
				}
			}
		}
	}
	if !fallback {
		return pctLabel(f) + " of " + refBroker + "'s max", false
	}
	return fmt.Sprintf("%s of the slowest broker's max (%s)", pctLabel(f), strings.Join(refs, ", ")), true
}

// commonMet judges our p99 at a common rate: at or below Mosquitto's and
// upstream mochi's, each where it was measured; no verdict without ours
// or without either of theirs. v and ok are pubsub, mosquitto, mochi and
// mochi-upstream, as in the ratio table.
func commonMet(v [4]float64, ok [4]bool) string {
	if !ok[0] || (!ok[1] && !ok[3]) {
		return ""
	}
	if (ok[1] && v[0] > v[1]) || (ok[3] && v[0] > v[3]) {
		return "**no**"
	}
	return "yes"
}

// writeCommonLatency writes the table of latencies at common rates.
func (r *Runner) writeCommonLatency(w io.Writer, ag map[[2]string]*agg, tp []Scenario, names []string) {
	var cs []Scenario
	for _, s := range tp {
		if s.CommonRates {
			cs = append(cs, s)
		}
	}
	if len(cs) == 0 || len(r.cfg.CommonFractions) == 0 {
		return
	}
	fmt.Fprintln(w, "#### Latency at common rates")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "After every broker's max-rate search in a round, each broker is started afresh and paced at the same offered rates, %s of Mosquitto's sustained deliveries/s in that round (one run of %v warm-up and a %v window each, lowest rate first), in the round's order of the brokers. Latencies are merged over rounds; the offered and delivered rates are medians.\n\n",
		fractions(r.cfg.CommonFractions), r.cfg.Warmup, r.cfg.Duration)
	fmt.Fprintln(w, "| Scenario | Offered rate | offered deliveries/s | Broker | delivered/s | p50 | p99 | p99.9 | drops |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	anyFallback := false
	for _, s := range cs {
		for _, f := range r.cfg.CommonFractions {
			label, fallback := commonRef(ag, s.Name, names, f)
			anyFallback = anyFallback || fallback
			for _, b := range names {
				a := ag[[2]string{s.Name, b}]
				if a == nil || a.common[f] == nil {
					continue
				}
				c := a.common[f]
				if c.latency.Count == 0 {
					fmt.Fprintf(w, "| %s | %s | | %s | error: %s |||||\n", s.Name, label, b, esc(strings.Join(c.errors, "; ")))
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Name, label, num(median(c.rates)), b, num(median(c.got)),
					ms(c.latency.Quantile(0.5)), ms(c.latency.Quantile(0.99)), ms(c.latency.Quantile(0.999)), pct(median(c.drops)))
			}
		}
	}
	fmt.Fprintln(w)
	if anyFallback {
		fmt.Fprintln(w, "Mosquitto's sustained rate was not measured in some rounds (not selected, or its search failed), so their common rates are fractions of the slowest broker's max instead, as named in the table.")
		fmt.Fprintln(w)
	}
}
