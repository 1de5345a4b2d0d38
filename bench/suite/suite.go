// Package suite runs the benchmark scenarios against the Pub/Sub node,
// Mosquitto and raw mochi in alternating rounds (pubsub, mosquitto,
// mochi, then mochi, mosquitto, pubsub, ...), so that the load of a shared
// machine falls on all three alike, and reports each result with our
// ratio to each baseline.
package suite

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/target"
	"github.com/openpubsub/pubsub/broker/node"
)

// Config configures a suite run.
type Config struct {
	// Profile is "short" (make bench, a few minutes) or "full".
	Profile string
	// Scenarios, when not empty, keeps only the scenarios named.
	Scenarios []string
	// Brokers, when not empty, keeps only the brokers named.
	Brokers []string
	// Rounds of each scenario on each broker.
	Rounds int
	// Warmup and Duration of each measured run; Duration is the window.
	Warmup, Duration time.Duration
	PayloadSize      int
	// SearchDuration is the window of each paced run of the search for
	// the sustainable max rate.
	SearchDuration time.Duration
	// LatencyFraction is the fraction of its own max rate each broker's
	// latency run paces its publishers at.
	LatencyFraction float64
	// CommonFractions are the rates, as fractions of Mosquitto's max in
	// the same round, at which every broker's latency is measured in the
	// scenarios with CommonRates; none turns those runs off.
	CommonFractions []float64
	// StormConcurrency is the connects in flight per worker in a storm.
	StormConcurrency int
	// SourceIPs spread client connections over loopback addresses.
	SourceIPs []string
	// MLKEM makes every client offer X25519MLKEM768 too, which the Go
	// brokers then choose (mosquitto's OpenSSL 3.0 cannot).
	MLKEM bool

	PubSubBin, MochiBin, MosquittoBin string
	// MochiUpstreamBin is bench/cmd/mochi-server built on upstream
	// mochi-mqtt v2.7.9 (make bench-bin builds it).
	MochiUpstreamBin string
	// WorkerExe and WorkerArgs start a load worker process.
	WorkerExe  string
	WorkerArgs []string
	// ProfileDir, when set, receives pprof profiles of the Pub/Sub node:
	// CPU during each saturated run and storm, heap when idle connections
	// are held.
	ProfileDir string
	// WorkDir holds certificates, data dirs and server logs.
	WorkDir string
	// NodeEnv is extra environment for the node (and mochi) processes.
	NodeEnv []string
	// Command is the command line that reproduces the run, for the report.
	Command string
	Log     io.Writer
}

// Profiles returns the scenarios of a profile.
func Profiles(profile string) []Scenario {
	if profile == "full" {
		return []Scenario{
			FanIn(100),
			common(FanOut(1)), FanOut(10), common(FanOut(100)), common(targeted(FanOut(1000))), FanOut(10000),
			common(targeted(Pairs(100, 0))), Pairs(100, 1),
			{Name: "storm-10000", Kind: Storm, Conns: 10000},
			{Name: "storm-resume-10000", Kind: Storm, Conns: 10000, Resume: true},
			{Name: "idle-19000", Kind: Idle, Conns: 19000},
			{Name: "revocation-1-node", Kind: Revocation, Conns: 200, Nodes: 1},
			{Name: "revocation-2-nodes", Kind: Revocation, Conns: 200, Nodes: 2},
			FanOutSSE(1000),
		}
	}
	// The short profile keeps one scenario of each kind, and the two
	// the throughput targets name, to stay within a few minutes.
	return []Scenario{
		common(FanOut(1000)), common(Pairs(100, 0)),
		{Name: "storm-5000", Kind: Storm, Conns: 5000},
		{Name: "idle-5000", Kind: Idle, Conns: 5000},
		{Name: "revocation-1-node", Kind: Revocation, Conns: 50, Nodes: 1},
		{Name: "revocation-2-nodes", Kind: Revocation, Conns: 50, Nodes: 2},
		FanOutSSE(1000),
	}
}

// ProfileNames are the profiles Profiles knows.
var ProfileNames = []string{"short", "full"}

// ProfileOf returns the profile that has the scenario: short when both
// have it, "" when neither does.
func ProfileOf(name string) string {
	for _, p := range ProfileNames {
		if slices.ContainsFunc(Profiles(p), func(s Scenario) bool { return s.Name == name }) {
			return p
		}
	}
	return ""
}

// validate refuses a profile or scenario the suite does not know, naming
// the ones it knows (New checks the broker names against its brokers).
func (c Config) validate() error {
	if !slices.Contains(ProfileNames, c.Profile) {
		return fmt.Errorf("unknown profile %q: want %s", c.Profile, strings.Join(ProfileNames, " or "))
	}
	for _, f := range c.CommonFractions {
		if !(f > 0 && f <= 1) {
			return fmt.Errorf("common rate %v: want a fraction of Mosquitto's max rate, above 0 and at most 1", f)
		}
	}
	var names []string
	for _, s := range Profiles(c.Profile) {
		names = append(names, s.Name)
	}
	for _, n := range c.Scenarios {
		if slices.Contains(names, n) {
			continue
		}
		if p := ProfileOf(n); p != "" {
			return fmt.Errorf("scenario %q is not in the %s profile: add -profile %s", n, c.Profile, p)
		}
		return fmt.Errorf("unknown scenario %q; the %s profile has %s", n, c.Profile, strings.Join(names, ", "))
	}
	return nil
}

// targetRounds is the rounds of the full profile's two scenarios with
// throughput targets: their rounds differ by up to a third from one to the
// next on this machine, and the median of four (two in each order of the
// brokers) moves less than that of two.
const targetRounds = 4

// common makes a scenario measure latency at the common rates too: the
// four issue 20 names (1→1, 1→100, 1→1,000 and 100 pairs).
func common(s Scenario) Scenario {
	s.CommonRates = true
	return s
}

// targeted gives a scenario with a throughput target its rounds.
func targeted(s Scenario) Scenario {
	s.MinRounds = targetRounds
	return s
}

// Runner runs a suite.
type Runner struct {
	cfg     Config
	certs   *target.Certs
	brokers []target.Broker
	pubsub  *target.PubSub
	pubsub2 *target.PubSub // two nodes, for revocation
	Results []Result
	Started time.Time
	commit  string // of the tree the binaries were built from, read at the start
}

// New prepares a suite: certificates and the three brokers, not started.
func New(cfg Config) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	certs, err := target.GenerateCerts(cfg.WorkDir, []string{"*." + target.Namespace + "." + target.Domain, "localhost"})
	if err != nil {
		return nil, err
	}
	logDir := filepath.Join(cfg.WorkDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	d := node.DefaultLimits()
	r := &Runner{cfg: cfg, certs: certs}
	r.pubsub = &target.PubSub{Bin: cfg.PubSubBin, Dir: filepath.Join(cfg.WorkDir, "pubsub"), Certs: certs, Nodes: 1, Env: cfg.NodeEnv, LogDir: logDir}
	r.pubsub2 = &target.PubSub{Bin: cfg.PubSubBin, Dir: filepath.Join(cfg.WorkDir, "pubsub2"), Certs: certs, Nodes: 2, Env: cfg.NodeEnv, LogDir: logDir}
	all := []target.Broker{
		r.pubsub,
		&target.Mosquitto{Bin: cfg.MosquittoBin, Dir: filepath.Join(cfg.WorkDir, "mosquitto"), Certs: certs, LogDir: logDir, MaxQueued: int(d.MaxWritesPending)},
		&target.Mochi{Bin: cfg.MochiBin, Certs: certs, LogDir: logDir, Env: cfg.NodeEnv,
			WritesPending: int(d.MaxWritesPending), ReadBuffer: d.ReadBufferSize, WriteBuffer: d.WriteBufferSize,
			ReceiveMaximum: int(d.ReceiveMaximum), MaxInflight: int(d.MaxInflight)},
		&target.Mochi{Label: "mochi-upstream", Bin: cfg.MochiUpstreamBin, Certs: certs, LogDir: logDir, Env: cfg.NodeEnv,
			WritesPending: int(d.MaxWritesPending), ReadBuffer: d.ReadBufferSize, WriteBuffer: d.WriteBufferSize,
			ReceiveMaximum: int(d.ReceiveMaximum), MaxInflight: int(d.MaxInflight)},
	}
	var names []string
	for _, b := range all {
		names = append(names, b.Name())
		if len(cfg.Brokers) == 0 || slices.Contains(cfg.Brokers, b.Name()) {
			r.brokers = append(r.brokers, b)
		}
	}
	for _, b := range cfg.Brokers {
		if !slices.Contains(names, b) {
			return nil, fmt.Errorf("unknown broker %q: want some of %s", b, strings.Join(names, ", "))
		}
	}
	return r, nil
}

// Close stops everything the suite started.
func (r *Runner) Close() {
	for _, b := range r.brokers {
		b.Stop()
	}
	r.pubsub.Close()
	r.pubsub2.Close()
}

func (r *Runner) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// profile starts a profile of b in the background when profiles are
// wanted and b can give one (the node, raw mochi); wait blocks until it
// is saved.
func (r *Runner) profile(b target.Broker, s Scenario, kind string, d time.Duration) (wait func()) {
	p, ok := b.(profiler)
	if r.cfg.ProfileDir == "" || !ok {
		return func() {}
	}
	name := "cpu"
	if kind == "heap" {
		name = "heap"
	}
	if b.Name() != "pubsub" {
		name = b.Name() + "-" + name // the node's keep their names
	}
	path := filepath.Join(r.cfg.ProfileDir, fmt.Sprintf("%s-%s.pprof", s.Name, name))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Profile(kind, d, path); err != nil {
			r.logf("profile %s: %v", path, err)
		}
	}()
	return func() { <-done }
}

// profiler is a broker whose profiles the suite can take: the node, and
// raw mochi for comparison.
type profiler interface {
	Profile(kind string, d time.Duration, path string) error
}

func (r *Runner) pool(n int) (*load.Pool, error) {
	return load.StartPool(n, r.cfg.WorkerExe, r.cfg.WorkerArgs, r.cfg.Log)
}

// workersFor returns how many workers hold n connections: at least 4, so
// that both cores run clients while the broker runs too.
func (r *Runner) workersFor(n int) int {
	return max(4, (n+load.MaxClientsPerWorker-1)/load.MaxClientsPerWorker)
}

// Scenarios returns the scenarios this run will do.
func (r *Runner) Scenarios() []Scenario {
	var out []Scenario
	for _, s := range Profiles(r.cfg.Profile) {
		if len(r.cfg.Scenarios) == 0 || slices.Contains(r.cfg.Scenarios, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// Run runs every scenario, round by round, alternating the brokers.
func (r *Runner) Run(ctx context.Context) error {
	r.Started = time.Now()
	r.commit = Commit()
	for _, s := range r.Scenarios() {
		switch s.Kind {
		case Revocation:
			for round := 1; round <= s.rounds(r.cfg.Rounds); round++ {
				r.record(r.runPubSubOnly(ctx, s, round))
			}
			continue
		}
		for round := 1; round <= s.rounds(r.cfg.Rounds); round++ {
			for _, b := range roundOrder(r.brokers, round) {
				if s.SSE && b.Name() != "pubsub" {
					continue // only Pub/Sub has an HTTP edge
				}
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.record(r.runOne(ctx, s, b, round))
			}
			if s.CommonRates && len(r.cfg.CommonFractions) > 0 {
				if err := r.runCommonRates(ctx, s, round); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// roundOrder is the order of the brokers in a round: as given in odd
// rounds, reversed in even ones, so that over two rounds each broker runs
// after each of the others as often as they run after it, and whatever
// one broker's round leaves behind on the machine falls on all alike.
func roundOrder(brokers []target.Broker, round int) []target.Broker {
	if round%2 == 1 {
		return brokers
	}
	out := make([]target.Broker, len(brokers))
	for i, b := range brokers {
		out[len(brokers)-1-i] = b
	}
	return out
}

func (r *Runner) record(res Result) {
	r.Results = append(r.Results, res)
	r.logf("%s", summary(res))
}

// runOne runs one scenario on a freshly started broker.
func (r *Runner) runOne(ctx context.Context, s Scenario, b target.Broker, round int) Result {
	res := Result{Scenario: s.Name, Broker: b.Name(), Round: round}
	r.logf("%s on %s, round %d: %s", s.Name, b.Name(), round, s.Params())
	if err := b.Start(ctx); err != nil {
		res.Error = err.Error()
		return res
	}
	defer b.Stop()
	var err error
	switch s.Kind {
	case Throughput:
		err = r.runThroughput(ctx, s, b, &res)
	case Storm:
		err = r.runStorm(ctx, s, b, &res)
	case Idle:
		err = r.runIdle(ctx, s, b, &res)
	}
	switch {
	case errors.Is(err, errNoEdge):
		res.Skipped, res.Errors = err.Error(), nil
	case err != nil:
		res.Error = err.Error()
	}
	return res
}

// runPubSubOnly runs a scenario only Pub/Sub has (revocation).
func (r *Runner) runPubSubOnly(ctx context.Context, s Scenario, round int) Result {
	res := Result{Scenario: s.Name, Broker: "pubsub", Round: round}
	if len(r.cfg.Brokers) > 0 && !slices.Contains(r.cfg.Brokers, "pubsub") {
		res.Skipped = "pubsub not selected"
		return res
	}
	p := r.pubsub
	if s.Nodes == 2 {
		p = r.pubsub2
	}
	r.logf("%s on pubsub, round %d: %s", s.Name, round, s.Params())
	if err := p.Start(ctx); err != nil {
		res.Error = err.Error()
		return res
	}
	defer p.Stop()
	if err := r.runRevocation(ctx, s, p, &res); err != nil {
		res.Error = err.Error()
	}
	return res
}

// SaveJSON writes the raw results.
func (r *Runner) SaveJSON(path string) error {
	raw, err := json.MarshalIndent(r.Results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// jtiOf returns the jti claim of a token, unverified.
func jtiOf(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		JTI string `json:"jti"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.JTI
}

// summary is a one-line log of a result.
func summary(res Result) string {
	head := fmt.Sprintf("  → %s %s #%d:", res.Scenario, res.Broker, res.Round)
	switch {
	case res.Skipped != "":
		return head + " skipped: " + res.Skipped
	case res.Error != "":
		return head + " ERROR: " + res.Error + " " + strings.Join(res.Errors, "; ")
	case res.MaxRate > 0:
		return fmt.Sprintf("%s flood %.0f/s (drops %.2f%%, broker %.2f cores, load %.2f cores); sustained %.0f/s; half rate %.0f/s p50 %v p99 %v p99.9 %v (drops %.2f%%, %d silent, %d gone); RSS %s",
			head, res.FloodRate, 100*res.FloodDrops, res.ServerCPU, res.ClientCPU, res.MaxRate, res.HalfRate, ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.99)), ms(res.Latency.Quantile(0.999)), 100*res.HalfDrops, res.Silent, res.Disconnected, mib(res.RSS))
	case res.PerConn > 0:
		return fmt.Sprintf("%s %d connected (%d failed), %.0f B RSS per connection (steady %.0f B), RSS %s", head, res.Connected, res.Failed, res.PerConn, res.PerConnSteady, mib(res.RSS))
	case res.ConnectRate > 0:
		return fmt.Sprintf("%s %d connected (%d failed, %d resumed) at %.0f/s, p50 %v p99 %v; broker %.2f cores, load %.2f cores", head, res.Connected, res.Failed, res.Resumed, res.ConnectRate, ms(res.ConnectLat.Quantile(0.5)), ms(res.ConnectLat.Quantile(0.99)), res.ServerCPU, res.ClientCPU)
	case res.Latency.Count > 0:
		return fmt.Sprintf("%s %d disconnected (%d missed), p50 %v p99 %v max %v", head, res.Connected, res.Failed, ms(res.Latency.Quantile(0.5)), ms(res.Latency.Quantile(0.99)), ms(res.Latency.Quantile(1)))
	}
	return head + " no data " + strings.Join(res.Errors, "; ")
}
