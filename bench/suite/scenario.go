package suite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/target"
)

// Kind is what a scenario measures.
type Kind string

// The kinds of scenario.
const (
	Throughput Kind = "throughput" // deliveries/s at saturation, latency at half of it and at common rates
	Storm      Kind = "storm"      // TLS connects/s
	Idle       Kind = "idle"       // idle connections held, RSS per connection
	Revocation Kind = "revocation" // API answer to DISCONNECT
)

// Scenario is one named measurement with its parameters.
type Scenario struct {
	Name string
	Kind Kind
	// Publishers and Subscribers of a throughput scenario, and how many
	// subscribers each message reaches.
	Publishers, Subscribers, Fanout int
	QoS                             byte
	// Conns is the number of connections of a storm or idle scenario, or
	// of revoked clients.
	Conns int
	// Nodes is the number of Pub/Sub nodes (revocation).
	Nodes int
	// Resume lets storm clients resume TLS sessions with tickets from
	// earlier connections of their worker.
	Resume bool
	// SSE makes a throughput scenario's subscribers SSE streams of the
	// node's HTTP edge; only Pub/Sub runs it.
	SSE bool
	// MinRounds, when above the suite's rounds, is the scenario's own.
	MinRounds int
	// CommonRates makes a throughput scenario measure every broker's
	// latency at the same offered rates after each round (latency.go).
	CommonRates bool
	// topology returns the roles of client i.
	topology func(i int) (sub, pub string)
}

// rounds is how many rounds the scenario runs in a suite of the given
// rounds.
func (s Scenario) rounds(suite int) int { return max(suite, s.MinRounds) }

// Params describes the scenario's parameters for the tables.
func (s Scenario) Params() string {
	switch s.Kind {
	case Throughput:
		if s.SSE {
			return fmt.Sprintf("%d MQTT pub → %d SSE streams", s.Publishers, s.Subscribers)
		}
		return fmt.Sprintf("%d pub → %d sub, QoS %d", s.Publishers, s.Subscribers, s.QoS)
	case Storm:
		if s.Resume {
			return fmt.Sprintf("%d TLS 1.3 connects, session resumption", s.Conns)
		}
		return fmt.Sprintf("%d TLS 1.3 connects, full handshakes", s.Conns)
	case Idle:
		return fmt.Sprintf("up to %d idle TLS connections", s.Conns)
	case Revocation:
		return fmt.Sprintf("%d revocations, %d node(s)", s.Conns, s.Nodes)
	}
	return ""
}

// Clients returns the number of clients a throughput scenario connects.
func (s Scenario) Clients() int { return s.Publishers + s.Subscribers }

// FanIn is n publishers to one subscriber on one topic.
func FanIn(n int) Scenario {
	return Scenario{Name: fmt.Sprintf("fan-in-%d", n), Kind: Throughput, Publishers: n, Subscribers: 1, Fanout: 1,
		topology: func(i int) (string, string) {
			if i == 0 {
				return "bench/in", ""
			}
			return "", "bench/in"
		}}
}

// FanOut is one publisher to n subscribers of its topic.
func FanOut(n int) Scenario {
	return Scenario{Name: fmt.Sprintf("fan-out-%d", n), Kind: Throughput, Publishers: 1, Subscribers: n, Fanout: n,
		topology: func(i int) (string, string) {
			if i == n {
				return "", "bench/out"
			}
			return "bench/out", ""
		}}
}

// FanOutSSE is one MQTT publisher to n SSE streams (GET /events) of its
// topic.
func FanOutSSE(n int) Scenario {
	s := FanOut(n)
	s.Name, s.SSE = fmt.Sprintf("sse-fan-out-%d", n), true
	return s
}

// Pairs is n publisher/subscriber pairs, each on its own topic.
func Pairs(n int, qos byte) Scenario {
	name := fmt.Sprintf("pairs-%d", n)
	if qos > 0 {
		name = fmt.Sprintf("qos1-pairs-%d", n)
	}
	return Scenario{Name: name, Kind: Throughput, Publishers: n, Subscribers: n, Fanout: 1, QoS: qos,
		topology: func(i int) (string, string) {
			t := fmt.Sprintf("bench/pair/%d", i/2)
			if i%2 == 0 {
				return t, ""
			}
			return "", t
		}}
}

// clientsFor gives a throughput scenario's roles to creds.
func (s Scenario) clientsFor(creds []load.ClientSpec) []load.ClientSpec {
	for i := range creds {
		sub, pub := s.topology(i)
		creds[i].Sub, creds[i].Pub = sub, pub
		creds[i].SubQoS, creds[i].PubQoS = s.QoS, s.QoS
		creds[i].SSE = s.SSE && sub != ""
	}
	return creds
}

// Result is one scenario's measurement on one broker in one round.
type Result struct {
	Scenario string `json:"scenario"`
	Broker   string `json:"broker"`
	Round    int    `json:"round"`
	Skipped  string `json:"skipped,omitempty"`
	Error    string `json:"error,omitempty"`

	// Throughput. FloodRate is the goodput with every publisher as fast
	// as its connection takes; MaxRate the highest paced rate delivered
	// without drops.
	FloodRate    float64       `json:"flood_rate,omitempty"`
	FloodDrops   float64       `json:"flood_drops,omitempty"`
	MaxRate      float64       `json:"max_rate,omitempty"`
	Steps        []Step        `json:"steps,omitempty"`
	HalfRate     float64       `json:"half_rate,omitempty"` // deliveries/s achieved at the half-rate run
	HalfDrops    float64       `json:"half_drops,omitempty"`
	Latency      hist.Snapshot `json:"latency"`              // at half rate
	ServerCPU    float64       `json:"server_cpu,omitempty"` // cores used during the saturated run
	RSS          int64         `json:"rss,omitempty"`
	Heap         int64         `json:"heap,omitempty"`
	HeapKnown    bool          `json:"heap_known,omitempty"`
	Disconnected int           `json:"disconnected,omitempty"`
	Silent       int           `json:"silent,omitempty"` // subscribers that got nothing in the latency run
	// Common holds the latency runs at the rates offered to every broker
	// of the round alike, one per fraction of the reference's max.
	Common []RateLatency `json:"common,omitempty"`

	// Storm and idle.
	Connected   int           `json:"connected,omitempty"`
	Failed      int           `json:"failed,omitempty"`
	ConnectRate float64       `json:"connect_rate,omitempty"`
	ConnectLat  hist.Snapshot `json:"connect_latency"`
	RSSBase     int64         `json:"rss_base,omitempty"`
	PerConn     float64       `json:"per_conn,omitempty"` // RSS bytes per idle connection, 5 s after the last
	// RSSSteady and PerConnSteady are measured after a forced GC (Go
	// brokers) and 5 s more.
	RSSSteady     int64    `json:"rss_steady,omitempty"`
	PerConnSteady float64  `json:"per_conn_steady,omitempty"`
	HeapPerConn   float64  `json:"heap_per_conn,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	Resumed       int      `json:"resumed,omitempty"`
	// ClientCPU is the cores the load workers used, ServerCPU the broker.
	ClientCPU float64 `json:"client_cpu,omitempty"`
}

// Step is one paced run of the search for the sustainable max.
type Step struct {
	Rate, Got, Drops float64
	OK               bool
}

// cpuOf sums the CPU time of processes.
func cpuOf(pids ...int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		d, _ := target.CPUTime(p)
		t += d
	}
	return t
}

// throughputClients starts a pool of two workers and connects s's
// clients to the started broker b; reconnect closes them and connects
// them again, fresh. The caller stops the pool.
func (r *Runner) throughputClients(ctx context.Context, s Scenario, b target.Broker, res *Result) (pool *load.Pool, reconnect func() error, err error) {
	creds, err := b.Clients(ctx, s.Clients())
	if err != nil {
		return nil, nil, err
	}
	pool, err = r.pool(2)
	if err != nil {
		return nil, nil, err
	}
	tg := b.Target()
	tg.SourceIPs = r.cfg.SourceIPs
	tg.MLKEM = r.cfg.MLKEM
	cs, err := pool.Connect(ctx, tg, s.clientsFor(creds), 32)
	if err == nil && cs.Failed > 0 {
		res.Errors = errorList(cs.Errors)
		err = fmt.Errorf("%d of %d clients failed to connect", cs.Failed, s.Clients())
		if s.SSE && cs.Connected <= s.Publishers {
			err = errNoEdge
		}
	}
	if err != nil {
		pool.Stop()
		return nil, nil, err
	}
	reconnect = func() error {
		if err := pool.CloseClients(ctx); err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
		if cs, err := pool.Connect(ctx, tg, s.clientsFor(creds), 32); err != nil || cs.Failed > 0 {
			res.Errors = errorList(cs.Errors)
			return fmt.Errorf("reconnecting: %d of %d clients failed (%v)", cs.Failed, s.Clients(), err)
		}
		return nil
	}
	return pool, reconnect, nil
}

// runThroughput runs a throughput scenario on a started broker.
func (r *Runner) runThroughput(ctx context.Context, s Scenario, b target.Broker, res *Result) error {
	pool, reconnect, err := r.throughputClients(ctx, s, b, res)
	if err != nil {
		return err
	}
	defer pool.Stop()
	defer pool.CloseClients(context.Background())

	spec := load.RunSpec{Warmup: r.cfg.Warmup, Duration: r.cfg.Duration, Drain: 3 * time.Second, PayloadSize: r.cfg.PayloadSize}
	// No flood over SSE: the edge ends a stream whose queue overflows
	// (it would resume with Last-Event-ID), so a flood only measures how
	// fast every stream is cut.
	if !s.SSE {
		srv0, cli0 := cpuOf(b.PID()), cpuOf(pool.PIDs()...)
		t0 := time.Now()
		wait := r.profile(b, s, "profile", r.cfg.Warmup+r.cfg.Duration)
		flood, err := pool.Run(ctx, spec)
		srv1, cli1 := cpuOf(b.PID()), cpuOf(pool.PIDs()...)
		wait()
		if err != nil {
			return err
		}
		res.ServerCPU = float64(srv1-srv0) / float64(time.Since(t0))
		res.ClientCPU = float64(cli1-cli0) / float64(time.Since(t0))
		res.FloodRate = float64(flood.ReceivedWindow) / r.cfg.Duration.Seconds()
		res.FloodDrops = drops(flood, s.Fanout)
		res.RSS, _ = target.RSS(b.PID())
		res.Heap, res.HeapKnown = b.HeapBytes()
		if res.FloodRate == 0 {
			return errors.New("nothing was delivered")
		}
		// Fresh connections, so that nothing the flood left queued (in
		// the broker or in socket buffers) reaches the paced runs.
		if err := reconnect(); err != nil {
			return err
		}
	}

	// The sustainable max: paced runs from the flood's goodput (at least
	// 10,000/s), down by 0.7 until one delivers everything, or doubling
	// until one does not, then three bisections. Each broker starts from
	// its own goodput: starting one from a faster broker's rate would
	// overload it several times first, and an overloaded broker can take
	// longer than the next step to recover.
	// A run passes by stepPasses.
	paced := func(rate float64) (bool, error) {
		sp := spec
		sp.Warmup, sp.Duration = r.cfg.SearchDuration/4, r.cfg.SearchDuration
		sp.Rate = rate / float64(s.Fanout) / float64(s.Publishers)
		run, err := pool.Run(ctx, sp)
		if err != nil {
			return false, err
		}
		got := float64(run.ReceivedWindow) / sp.Duration.Seconds()
		d := drops(run, s.Fanout)
		ok := stepPasses(run, s.Fanout, rate, sp.Duration)
		r.logf("    paced %.0f/s: got %.0f/s, drops %.2f%%, pass %v", rate, got, 100*d, ok)
		res.Steps = append(res.Steps, Step{Rate: rate, Got: got, Drops: d, OK: ok})
		if ok {
			res.MaxRate = max(res.MaxRate, got)
		}
		if run.Disconnected > 0 || run.Silent > 0 {
			// Streams the broker ended (SSE queues), or stuck sessions,
			// would fail every later step too.
			return ok, reconnect()
		}
		return ok, nil
	}
	rate := max(res.FloodRate, 10000)
	lo, hi := 0.0, 0.0 // highest passing and lowest failing rates tried
	for step := 0; step < 7 && (lo == 0 || hi == 0); step++ {
		ok, err := paced(rate)
		if err != nil {
			return err
		}
		if ok {
			lo, rate = rate, rate*2
		} else {
			hi, rate = rate, rate*0.7
		}
	}
	for i := 0; i < 3 && lo > 0 && hi > 0; i++ {
		mid := math.Sqrt(lo * hi)
		ok, err := paced(mid)
		if err != nil {
			return err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if res.MaxRate == 0 {
		return errors.New("no paced run delivered without drops")
	}

	spec.Rate = res.MaxRate * r.cfg.LatencyFraction / float64(s.Fanout) / float64(s.Publishers)
	half, err := pool.Run(ctx, spec)
	if err != nil {
		return err
	}
	res.HalfRate = float64(half.ReceivedWindow) / r.cfg.Duration.Seconds()
	res.HalfDrops = drops(half, s.Fanout)
	res.Latency = half.Latency
	res.Disconnected = half.Disconnected
	res.Silent = half.Silent
	if res.RSS == 0 {
		res.RSS, _ = target.RSS(b.PID())
		res.Heap, res.HeapKnown = b.HeapBytes()
	}
	if rss, err := target.RSS(b.PID()); err == nil {
		res.RSS = max64(res.RSS, rss)
	}
	return nil
}

// stepPasses judges one paced run at rate: at least 99.5% of the
// deliveries of the messages sent in the window arrive inside it (a
// broker that falls behind and catches up in the drain does not pass), no
// more than 0.5% are lost in all, the run reaches 90% of its rate (the
// load generator shares the cores and may fall short), and no subscriber
// went silent.
func stepPasses(run load.RunResult, fanout int, rate float64, window time.Duration) bool {
	inWindow := float64(run.ReceivedWindow) >= 0.995*float64(run.SentWindow)*float64(fanout)
	got := float64(run.ReceivedWindow) / window.Seconds()
	return inWindow && drops(run, fanout) <= 0.005 && got >= 0.9*rate && run.Silent == 0
}

// errNoEdge skips the SSE scenario on a node without an HTTP edge.
var errNoEdge = errors.New("the node does not serve GET /events (no HTTP edge)")

// drops is the fraction of expected deliveries that never arrived.
func drops(r load.RunResult, fanout int) float64 {
	want := float64(r.Sent) * float64(fanout)
	if want == 0 {
		return 0
	}
	return max(0, want-float64(r.Received)) / want
}

// runStorm connects s.Conns clients as fast as the broker takes them.
func (r *Runner) runStorm(ctx context.Context, s Scenario, b target.Broker, res *Result) error {
	creds, err := b.Clients(ctx, s.Conns)
	if err != nil {
		return err
	}
	pool, err := r.pool(r.workersFor(s.Conns))
	if err != nil {
		return err
	}
	defer pool.Stop()
	tg := b.Target()
	tg.SourceIPs = r.cfg.SourceIPs
	tg.MLKEM = r.cfg.MLKEM
	tg.Resume = s.Resume
	wait := r.profile(b, s, "profile", 3*time.Second)
	srv0, cli0 := cpuOf(b.PID()), cpuOf(pool.PIDs()...)
	cs, err := pool.Connect(ctx, tg, creds, r.cfg.StormConcurrency)
	srv1, cli1 := cpuOf(b.PID()), cpuOf(pool.PIDs()...)
	defer pool.CloseClients(context.Background())
	wait()
	if err != nil {
		return err
	}
	res.ServerCPU = float64(srv1-srv0) / float64(cs.Elapsed)
	res.ClientCPU = float64(cli1-cli0) / float64(cs.Elapsed)
	res.Resumed = cs.Resumed
	res.Connected, res.Failed = cs.Connected, cs.Failed
	res.ConnectRate = float64(cs.Connected) / cs.Elapsed.Seconds()
	res.ConnectLat = cs.Latency
	res.Errors = errorList(cs.Errors)
	res.RSS, _ = target.RSS(b.PID())
	return nil
}

// runIdle holds as many idle connections as the broker takes, up to
// s.Conns, and measures what each costs.
func (r *Runner) runIdle(ctx context.Context, s Scenario, b target.Broker, res *Result) error {
	creds, err := b.Clients(ctx, s.Conns)
	if err != nil {
		return err
	}
	pool, err := r.pool(r.workersFor(s.Conns))
	if err != nil {
		return err
	}
	defer pool.Stop()
	time.Sleep(time.Second)
	res.RSSBase, _ = target.RSS(b.PID())
	heap0, _ := b.HeapBytes()
	tg := b.Target()
	tg.SourceIPs = r.cfg.SourceIPs
	tg.MLKEM = r.cfg.MLKEM
	cs, err := pool.Connect(ctx, tg, creds, 16)
	defer pool.CloseClients(context.Background())
	if err != nil {
		return err
	}
	res.Connected, res.Failed = cs.Connected, cs.Failed
	res.ConnectRate = float64(cs.Connected) / cs.Elapsed.Seconds()
	res.ConnectLat = cs.Latency
	res.Errors = errorList(cs.Errors)
	// Let handshake garbage be collected and idle buffers settle, as
	// they would on a broker that has been up a while.
	time.Sleep(5 * time.Second)
	res.RSS, _ = target.RSS(b.PID())
	res.Heap, res.HeapKnown = b.HeapBytes()
	r.profile(b, s, "heap", 0)()
	if cs.Connected > 0 {
		res.PerConn = float64(res.RSS-res.RSSBase) / float64(cs.Connected)
		if res.HeapKnown {
			res.HeapPerConn = float64(res.Heap-heap0) / float64(cs.Connected)
		}
	}
	// The steady state: a Go broker's heap still holds the garbage of
	// the handshakes until its next collection, which an idle process
	// only runs after two minutes; one is forced here, and every broker
	// gets until its RSS settles to give memory back.
	b.CollectGarbage()
	res.RSSSteady = settledRSS(b.PID())
	if cs.Connected > 0 {
		res.PerConnSteady = float64(res.RSSSteady-res.RSSBase) / float64(cs.Connected)
	}
	return nil
}

// runRevocation connects s.Conns clients with fresh tokens, spread over
// the nodes, then revokes them one at a time over the API and times each
// from the API's answer to the client's DISCONNECT.
func (r *Runner) runRevocation(ctx context.Context, s Scenario, p *target.PubSub, res *Result) error {
	creds, err := p.FreshClients(ctx, s.Conns)
	if err != nil {
		return err
	}
	var lat hist.Histogram
	clients := make([]*load.Client, len(creds))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, cr := range creds {
		tg := p.NodeTarget(i % s.Nodes)
		tg.MLKEM = r.cfg.MLKEM
		c, err := load.Dial(ctx, &tg, load.NewTLSConfig(&tg), nil, cr, nil, nil)
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = c
	}
	for i, c := range clients {
		answered, err := p.Revoke(ctx, jtiOf(creds[i].Password))
		if err != nil {
			return err
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			res.Failed++
			continue
		}
		at, code, ok := c.ServerDisconnect()
		if !ok || code != 0x87 {
			res.Failed++
			continue
		}
		res.Connected++
		lat.Record(at.Sub(answered))
	}
	res.Latency = lat.Snapshot(false)
	return nil
}

func errorList(m map[string]int) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%d× %s", v, k))
	}
	return out
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// settledRSS waits for a process's RSS to settle after a collection and
// returns it: at least 5 s, then until it has moved by less than 0.5% over
// the last 3 s, for at most 30 s. The Go runtime's scavenger returns the
// pages a collection freed (shrunk goroutine stacks among them) over
// several seconds, so a fixed wait caught it at different points.
func settledRSS(pid int) int64 {
	time.Sleep(5 * time.Second)
	var last []int64
	deadline := time.Now().Add(25 * time.Second)
	for {
		rss, _ := target.RSS(pid)
		last = append(last, rss)
		if n := len(last); n >= 4 {
			old := last[n-4]
			if d := max(rss-old, old-rss); d < old/200 || time.Now().After(deadline) {
				return rss
			}
		}
		time.Sleep(time.Second)
	}
}
