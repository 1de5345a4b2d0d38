package suite

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/target"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"Empty", nil, 0},
		{"Odd", []float64{3, 1, 2}, 2},
		{"Even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func latencies(d ...time.Duration) hist.Snapshot {
	var h hist.Histogram
	for _, v := range d {
		h.Record(v)
	}
	return h.Snapshot(false)
}

// TestRatios writes a report from made-up results and checks the ratio
// table: medians over rounds, ours divided by theirs, the verdicts.
func TestRatios(t *testing.T) {
	r := &Runner{cfg: Config{Profile: "short", Scenarios: []string{"pairs-100"}, Rounds: 2},
		brokers: []target.Broker{&target.PubSub{}, &target.Mosquitto{}, &target.Mochi{}}}
	r.Results = []Result{
		{Scenario: "pairs-100", Broker: "pubsub", Round: 1, MaxRate: 50000, Latency: latencies(time.Millisecond)},
		{Scenario: "pairs-100", Broker: "pubsub", Round: 2, MaxRate: 70000, Latency: latencies(2 * time.Millisecond)},
		{Scenario: "pairs-100", Broker: "mosquitto", Round: 1, MaxRate: 40000, Latency: latencies(time.Millisecond)},
		{Scenario: "pairs-100", Broker: "mochi", Round: 1, MaxRate: 60000, Latency: latencies(time.Millisecond)},
		{Scenario: "pairs-100", Broker: "mochi", Round: 2, Error: "boom"},
	}
	var buf bytes.Buffer
	r.WriteMarkdown(&buf, "0", "0", "img")
	out := buf.String()
	table := out[strings.Index(out, "#### Ratios"):]
	for _, want := range []string{
		"| pairs-100 | sustained deliveries/s | 60,000 | 40,000 | 60,000 | – | 1.50 | 1.00 | – | ≥ 1.25× mosquitto, ≥ 0.9× mochi | yes |",
		"| pairs-100 | p99 at half its own max | 2.00 ms | 1.00 ms | 1.00 ms | – | 2.00 | 2.00 | – |  |  |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("the ratio table lacks\n%s\nin\n%s", want, table)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "| pairs-100 | p99 at half its own max | 2.00 ms | 1.00 ms | 1.00 ms | – | 2.00 | 2.00 | – |  |  |") {
		t.Error("the report does not end with the ratio table")
	}
}

// The idle targets are judged only at the 19,000 connections they name.
func TestIdleTargetsNeedTheirConnections(t *testing.T) {
	for _, tc := range []struct {
		profile, scenario string
		conns             int
		want              []string
	}{
		{"short", "idle-5000", 5000, []string{
			"| idle-5000 | connections held | 5,000 | – | – | – | – | – | – | at 19,000 only |  |",
			"| idle-5000 | RSS per connection, steady | 25.0 KiB | – | – | – | – | – | – | at 19,000 only |  |",
		}},
		{"full", "idle-19000", 19000, []string{
			"| idle-19000 | connections held | 19,000 | – | – | – | – | – | – | ~19,000 | yes |",
			"| idle-19000 | RSS per connection, steady | 25.0 KiB | – | – | – | – | – | – | ≤ 24 KiB | **no** |",
		}},
	} {
		r := &Runner{cfg: Config{Profile: tc.profile, Scenarios: []string{tc.scenario}, Rounds: 1},
			brokers: []target.Broker{&target.PubSub{}}}
		r.Results = []Result{{Scenario: tc.scenario, Broker: "pubsub", Round: 1, Connected: tc.conns, PerConn: 26 << 10, PerConnSteady: 25 << 10}}
		var buf bytes.Buffer
		r.WriteMarkdown(&buf, "0", "0", "img")
		for _, want := range tc.want {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("the ratio table lacks\n%s\nin\n%s", want, buf.String())
			}
		}
	}
}

func TestRoundOrderReversesEvenRounds(t *testing.T) {
	brokers := []target.Broker{&target.PubSub{}, &target.Mosquitto{}, &target.Mochi{}}
	names := func(bs []target.Broker) string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Name())
		}
		return strings.Join(out, ",")
	}
	for round, want := range map[int]string{
		1: "pubsub,mosquitto,mochi",
		2: "mochi,mosquitto,pubsub",
		3: "pubsub,mosquitto,mochi",
	} {
		if got := names(roundOrder(brokers, round)); got != want {
			t.Errorf("round %d: %s, want %s", round, got, want)
		}
	}
	if got := names(brokers); got != "pubsub,mosquitto,mochi" {
		t.Errorf("roundOrder changed its argument: %s", got)
	}
}

// The full profile runs its two throughput-target scenarios for more
// rounds than the suite's, unless the suite asks for more still, and the
// report's header says which.
func TestTargetScenariosRunMoreRounds(t *testing.T) {
	r := &Runner{cfg: Config{Profile: "full", Rounds: 2}}
	rounds := map[string]int{}
	for _, s := range r.Scenarios() {
		rounds[s.Name] = s.rounds(r.cfg.Rounds)
	}
	if rounds["fan-out-1000"] != targetRounds || rounds["pairs-100"] != targetRounds || rounds["fan-out-100"] != 2 {
		t.Errorf("rounds: %v", rounds)
	}
	if got, want := r.moreRounds(), ", 4 for fan-out-1000 and pairs-100"; got != want {
		t.Errorf("header: %q, want %q", got, want)
	}
	r.cfg.Rounds = 5
	if got := r.moreRounds(); got != "" {
		t.Errorf("header with 5 rounds: %q, want none", got)
	}
	if n := targeted(Pairs(100, 0)).rounds(5); n != 5 {
		t.Errorf("rounds with 5 asked: %d", n)
	}
}

// TestStepPasses: a paced step passes only when the window's messages
// arrive inside the window (issue 20), not merely by the end of the drain.
func TestStepPasses(t *testing.T) {
	const fanout = 10
	window := 10 * time.Second
	for _, tc := range []struct {
		name string
		run  load.RunResult
		want bool
	}{
		{"OnTime", load.RunResult{Sent: 1010, SentWindow: 1000, Received: 10100, ReceivedWindow: 9990}, true},
		{"CaughtUpInTheDrain", load.RunResult{Sent: 1010, SentWindow: 1000, Received: 10100, ReceivedWindow: 9900}, false},
		{"Lost", load.RunResult{Sent: 1010, SentWindow: 1000, Received: 10000, ReceivedWindow: 9990}, false},
		{"SlowGenerator", load.RunResult{Sent: 800, SentWindow: 800, Received: 8000, ReceivedWindow: 8000}, false},
		{"SilentSubscriber", load.RunResult{Sent: 1010, SentWindow: 1000, Received: 10100, ReceivedWindow: 9990, Silent: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := stepPasses(tc.run, fanout, 1000, window); got != tc.want {
				t.Errorf("stepPasses = %v, want %v", got, tc.want)
			}
		})
	}
}
