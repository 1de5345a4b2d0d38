package suite

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/bench/target"
)

func TestCommonReference(t *testing.T) {
	for _, tc := range []struct {
		name         string
		round        []Result
		wantRef      string
		wantMax      float64
		wantFallback bool
	}{
		{"Mosquitto", []Result{
			{Broker: "pubsub", MaxRate: 90000}, {Broker: "mosquitto", MaxRate: 40000}, {Broker: "mochi", MaxRate: 30000},
		}, "mosquitto", 40000, false},
		{"MosquittoAbsent", []Result{
			{Broker: "pubsub", MaxRate: 90000}, {Broker: "mochi", MaxRate: 30000}, {Broker: "mochi-upstream", MaxRate: 50000},
		}, "mochi", 30000, true},
		{"MosquittoFailed", []Result{
			{Broker: "pubsub", MaxRate: 90000}, {Broker: "mosquitto", MaxRate: 20000, Error: "boom"}, {Broker: "mochi", MaxRate: 30000},
		}, "mochi", 30000, true},
		{"SlowestFailed", []Result{
			{Broker: "pubsub", MaxRate: 90000}, {Broker: "mochi", Error: "no paced run delivered without drops"}, {Broker: "mochi-upstream", MaxRate: 50000},
		}, "mochi-upstream", 50000, true},
		{"None", []Result{{Broker: "pubsub", Error: "boom"}, {Broker: "mosquitto", Skipped: "no edge"}}, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, m, fb := commonReference(tc.round)
			if ref != tc.wantRef || m != tc.wantMax || fb != tc.wantFallback {
				t.Errorf("commonReference = %q, %v, %v; want %q, %v, %v", ref, m, fb, tc.wantRef, tc.wantMax, tc.wantFallback)
			}
		})
	}
}

func TestCommonMet(t *testing.T) {
	ms := float64(time.Millisecond)
	for _, tc := range []struct {
		name string
		v    [4]float64
		ok   [4]bool
		want string
	}{
		{"BelowBoth", [4]float64{1 * ms, 2 * ms, 0.5 * ms, 1 * ms}, [4]bool{true, true, true, true}, "yes"},
		{"AboveMosquitto", [4]float64{3 * ms, 2 * ms, 9 * ms, 4 * ms}, [4]bool{true, true, true, true}, "**no**"},
		{"AboveUpstream", [4]float64{3 * ms, 4 * ms, 9 * ms, 2 * ms}, [4]bool{true, true, true, true}, "**no**"},
		{"OnlyUpstreamMeasured", [4]float64{1 * ms, 0, 0, 2 * ms}, [4]bool{true, false, false, true}, "yes"},
		{"NoneOfTheirs", [4]float64{1 * ms, 0, 0.5 * ms, 0}, [4]bool{true, false, true, false}, ""},
		{"NotOurs", [4]float64{0, 2 * ms, 0, 2 * ms}, [4]bool{false, true, false, true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := commonMet(tc.v, tc.ok); got != tc.want {
				t.Errorf("commonMet = %q, want %q", got, tc.want)
			}
		})
	}
}

// commonRun is a run at a common rate whose deliveries all took d.
func commonRun(f float64, ref string, rate float64, d time.Duration) RateLatency {
	return RateLatency{Fraction: f, Reference: ref, Fallback: ref != "mosquitto", Rate: rate, Got: rate, Latency: latencies(d, d, d, d)}
}

// TestCommonRateReport writes a report from made-up runs at the common
// rates and checks the latency table and the judged rows of the ratios:
// latencies merged over rounds, rates as medians, our p99 against
// Mosquitto's and upstream mochi's.
func TestCommonRateReport(t *testing.T) {
	r := &Runner{cfg: Config{Profile: "short", Scenarios: []string{"fan-out-1000"}, Rounds: 2, CommonFractions: []float64{0.1, 0.3}},
		brokers: []target.Broker{&target.PubSub{}, &target.Mosquitto{}, &target.Mochi{}, &target.Mochi{Label: "mochi-upstream"}}}
	ms := time.Millisecond
	runs := func(round int, low, high time.Duration) []RateLatency {
		base := 40000.0 * float64(round) // Mosquitto's max in that round
		return []RateLatency{commonRun(0.1, "mosquitto", 0.1*base, low), commonRun(0.3, "mosquitto", 0.3*base, high)}
	}
	r.Results = []Result{
		{Scenario: "fan-out-1000", Broker: "pubsub", Round: 1, MaxRate: 400000, Common: runs(1, 1*ms, 2*ms)},
		{Scenario: "fan-out-1000", Broker: "pubsub", Round: 2, MaxRate: 500000, Common: runs(2, 1*ms, 2*ms)},
		{Scenario: "fan-out-1000", Broker: "mosquitto", Round: 1, MaxRate: 40000, Common: runs(1, 2*ms, 1*ms)},
		{Scenario: "fan-out-1000", Broker: "mosquitto", Round: 2, MaxRate: 80000, Common: runs(2, 2*ms, 1*ms)},
		// A round whose own search failed still counts at the common rates.
		{Scenario: "fan-out-1000", Broker: "mochi", Round: 1, Error: "boom", Common: runs(1, 4*ms, 4*ms)},
		{Scenario: "fan-out-1000", Broker: "mochi-upstream", Round: 1, MaxRate: 300000, Common: []RateLatency{
			commonRun(0.1, "mosquitto", 4000, 3*ms), {Fraction: 0.3, Reference: "mosquitto", Rate: 12000, Error: "3 of 1001 clients failed to connect"}}},
	}
	var buf bytes.Buffer
	r.WriteMarkdown(&buf, "0", "0", "img")
	out := buf.String()
	i, j := strings.Index(out, "#### Latency at common rates"), strings.Index(out, "#### Ratios")
	if i < 0 || j < i {
		t.Fatalf("no latency table before the ratios in\n%s", out)
	}
	latency, ratios := out[i:j], out[j:]
	for _, want := range []string{
		"10% and 30% of Mosquitto's sustained deliveries/s",
		"| fan-out-1000 | 10% of mosquitto's max | 6,000 | pubsub | 6,000 | 1.00 ms | 1.00 ms | 1.00 ms | 0 |",
		"| fan-out-1000 | 30% of mosquitto's max | 18,000 | mosquitto | 18,000 | 1.00 ms | 1.00 ms | 1.00 ms | 0 |",
		"| fan-out-1000 | 30% of mosquitto's max | 12,000 | mochi | 12,000 | 4.00 ms | 4.00 ms | 4.00 ms | 0 |",
		"| fan-out-1000 | 30% of mosquitto's max | | mochi-upstream | error: round 1: 3 of 1001 clients failed to connect |||||",
	} {
		if !strings.Contains(latency, want) {
			t.Errorf("the latency table lacks\n%s\nin\n%s", want, latency)
		}
	}
	if strings.Contains(latency, "slowest broker") {
		t.Errorf("the latency table names a fallback that was not used:\n%s", latency)
	}
	for _, want := range []string{
		"| fan-out-1000 | p99 at 10% of mosquitto's max | 1.00 ms | 2.00 ms | 4.00 ms | 3.00 ms | 0.50 | 0.25 | 0.33 | ≤ mosquitto, ≤ mochi-upstream | yes |",
		"| fan-out-1000 | p99 at 30% of mosquitto's max | 2.00 ms | 1.00 ms | 4.00 ms | – | 2.00 | 0.50 | – | ≤ mosquitto, ≤ mochi-upstream | **no** |",
	} {
		if !strings.Contains(ratios, want) {
			t.Errorf("the ratio table lacks\n%s\nin\n%s", want, ratios)
		}
	}
}

// Without Mosquitto the common rates are fractions of the slowest
// broker's max, and the report says so.
func TestCommonRateReportWithoutMosquitto(t *testing.T) {
	r := &Runner{cfg: Config{Profile: "short", Scenarios: []string{"pairs-100"}, Rounds: 1, CommonFractions: []float64{0.1}},
		brokers: []target.Broker{&target.PubSub{}, &target.Mochi{Label: "mochi-upstream"}}}
	r.Results = []Result{
		{Scenario: "pairs-100", Broker: "pubsub", Round: 1, MaxRate: 90000, Common: []RateLatency{commonRun(0.1, "mochi-upstream", 5000, time.Millisecond)}},
		{Scenario: "pairs-100", Broker: "mochi-upstream", Round: 1, MaxRate: 50000, Common: []RateLatency{commonRun(0.1, "mochi-upstream", 5000, 2*time.Millisecond)}},
	}
	var buf bytes.Buffer
	r.WriteMarkdown(&buf, "0", "0", "img")
	out := buf.String()
	for _, want := range []string{
		"| pairs-100 | 10% of the slowest broker's max (mochi-upstream) | 5,000 | pubsub | 5,000 |",
		"Mosquitto's sustained rate was not measured in some rounds",
		"| pairs-100 | p99 at 10% of the slowest broker's max (mochi-upstream) | 1.00 ms | – | – | 2.00 ms | – | – | 0.50 | ≤ mosquitto, ≤ mochi-upstream | yes |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks\n%s\nin\n%s", want, out)
		}
	}
}

// The four scenarios issue 20 names measure latency at the common rates
// in the full profile, and the short profile's two of them do too.
func TestCommonRateScenarios(t *testing.T) {
	for profile, want := range map[string][]string{
		"full":  {"fan-out-1", "fan-out-100", "fan-out-1000", "pairs-100"},
		"short": {"fan-out-1000", "pairs-100"},
	} {
		var got []string
		for _, s := range Profiles(profile) {
			if s.CommonRates {
				got = append(got, s.Name)
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s profile: common rates in %v, want %v", profile, got, want)
		}
	}
}

func TestConfigRefusesBadCommonRates(t *testing.T) {
	for _, f := range []float64{0, -0.1, 1.5} {
		c := Config{Profile: "short", CommonFractions: []float64{0.1, f}}
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), "common rate") {
			t.Errorf("common rate %v: err %v, want a refusal", f, err)
		}
	}
	if err := (Config{Profile: "short", CommonFractions: []float64{0.1, 0.3}}).validate(); err != nil {
		t.Errorf("0.1, 0.3: %v", err)
	}
}
