// Command pubsub-bench is the Pub/Sub load tool and benchmark suite.
//
//	pubsub-bench suite [flags]       run the scenarios against pubsub, mosquitto and raw mochi
//	pubsub-bench <scenario> [flags]  run one scenario (suite -scenarios <scenario>)
//	pubsub-bench list                the scenarios, with their parameters
//	pubsub-bench worker              a load worker process (started by the suite itself)
//
// See docs/benchmarks.md for the scenarios and the figures they produced.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/suite"
)

const usage = `pubsub-bench: the Pub/Sub load tool and benchmark suite.

  pubsub-bench suite [flags]       run the scenarios (make bench, make bench-full)
  pubsub-bench <scenario> [flags]  run one scenario, e.g. pubsub-bench fan-out-1000 -brokers pubsub,mochi
  pubsub-bench list                the scenarios of each profile, with their parameters
  pubsub-bench worker              a load worker, driven over stdin/stdout by the suite

Run "pubsub-bench suite -h" for the flags, which a scenario takes too.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pubsub-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "worker":
		return load.WorkerMain(ctx)
	case "suite":
		return runSuite(ctx, args[1:], stdout, stderr)
	case "list":
		listScenarios(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if p := suite.ProfileOf(args[0]); p != "" {
		// A later -profile among the flags wins over this one.
		return runSuite(ctx, append([]string{"-scenarios", args[0], "-profile", p}, args[1:]...), stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// listScenarios prints each profile's scenarios and their parameters.
func listScenarios(w io.Writer) {
	for _, p := range suite.ProfileNames {
		fmt.Fprintf(w, "%s profile:\n", p)
		for _, s := range suite.Profiles(p) {
			extra := ""
			if s.CommonRates {
				extra = "; latency at common rates"
			}
			fmt.Fprintf(w, "  %-20s %s%s\n", s.Name, s.Params(), extra)
		}
	}
}

func runSuite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "short", "short (a few minutes) or full")
	scenarios := fs.String("scenarios", "", "comma-separated scenario names to run (default: all of the profile)")
	brokers := fs.String("brokers", "", "comma-separated brokers to run: pubsub, mosquitto, mochi, mochi-upstream (default: all)")
	rounds := fs.Int("rounds", 0, "rounds per scenario and broker (default: 1 short, 2 full)")
	duration := fs.Duration("duration", 0, "measurement window of the flood and latency runs (default: 3s short, 5s full)")
	search := fs.Duration("search-duration", 0, "window of each paced run searching for the sustained max (default: 2s)")
	warmup := fs.Duration("warmup", 0, "warm-up before each window (default: 1s)")
	payload := fs.Int("payload", 256, "payload size in bytes")
	latFrac := fs.Float64("latency-fraction", 0.5, "the latency run's rate, as a fraction of the broker's own max")
	commonRates := fs.String("common-rates", "0.1,0.3", "comma-separated fractions of Mosquitto's max in the same round (the slowest broker's without it) at which every broker's latency is measured in fan-out-1, -100, -1000 and pairs-100; empty for none")
	stormConc := fs.Int("storm-concurrency", 32, "connects in flight per worker in a storm")
	mlkem := fs.Bool("mlkem", false, "clients offer the hybrid post-quantum X25519MLKEM768 key exchange before X25519")
	nIPs := fs.Int("source-ips", 16, "spread connections over 127.0.0.2 … 127.0.0.(1+N)")
	pubsubBin := fs.String("pubsub", "bin/pubsub", "the pubsub binary")
	mochiBin := fs.String("mochi", "bin/mochi-server", "the bench mochi server binary")
	upstreamBin := fs.String("mochi-upstream", "bin/mochi-upstream", "the bench mochi server built on upstream mochi-mqtt v2.7.9")
	mosqBin := fs.String("mosquitto", "", "the mosquitto binary (default: from PATH or /usr/sbin)")
	work := fs.String("work", "", "scratch directory for certificates, data and server logs (default: a temp dir)")
	out := fs.String("out", "bench/out", "directory for the report (report.md), raw results (results.json) and charts")
	doc := fs.String("doc", "", "also write the report into this markdown file, between <!-- bench:begin --> and <!-- bench:end -->, and the charts into its img/ directory")
	profDir := fs.String("pprof", "", "save CPU and heap profiles of the Pub/Sub node into this directory")
	command := fs.String("command", "", "the command to show as reproducing this run (default: this command line)")
	nodeEnv := fs.String("node-env", "", "extra environment for the node and mochi processes, comma-separated (e.g. GOMEMLIMIT=1GiB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fracs, err := parseFractions(*commonRates)
	if err != nil {
		return fmt.Errorf("-common-rates: %w", err)
	}
	if *command == "" {
		*command = commandLine(args)
	}
	full := *profile == "full"
	pick := func(d time.Duration, short, long time.Duration) time.Duration {
		if d != 0 {
			return d
		}
		if full {
			return long
		}
		return short
	}
	if *rounds == 0 {
		*rounds = 1
		if full {
			*rounds = 2
		}
	}
	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o755); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	workDir := *work
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "pubsub-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(workDir)
	}
	var ips []string
	for i := range *nIPs {
		ips = append(ips, fmt.Sprintf("127.0.0.%d", i+2))
	}
	cfg := suite.Config{
		Profile: *profile, Scenarios: split(*scenarios), Brokers: split(*brokers), Rounds: *rounds,
		Warmup: pick(*warmup, time.Second, time.Second), Duration: pick(*duration, 3*time.Second, 5*time.Second),
		SearchDuration: pick(*search, 2*time.Second, 2*time.Second),
		PayloadSize:    *payload, LatencyFraction: *latFrac, CommonFractions: fracs, StormConcurrency: *stormConc, SourceIPs: ips, MLKEM: *mlkem,
		PubSubBin: *pubsubBin, MochiBin: *mochiBin, MosquittoBin: *mosqBin, MochiUpstreamBin: *upstreamBin,
		WorkerExe: exe, WorkerArgs: []string{"worker"}, WorkDir: workDir, ProfileDir: *profDir, NodeEnv: split(*nodeEnv),
		Command: *command, Log: stderr,
	}
	r, err := suite.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	loadBefore := suite.LoadAvg()
	fmt.Fprintf(stderr, "pubsub-bench: %s profile, load average %s, work dir %s\n", *profile, loadBefore, workDir)
	runErr := r.Run(ctx)
	loadAfter := suite.LoadAvg()

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := r.SaveJSON(filepath.Join(*out, "results.json")); err != nil {
		return err
	}
	if err := r.WriteCharts(filepath.Join(*out, "img")); err != nil {
		return err
	}
	var md bytes.Buffer
	r.WriteMarkdown(&md, loadBefore, loadAfter, "img")
	if err := os.WriteFile(filepath.Join(*out, "report.md"), md.Bytes(), 0o644); err != nil {
		return err
	}
	if *doc != "" {
		imgDir := filepath.Join(filepath.Dir(*doc), "img")
		if err := r.WriteCharts(imgDir); err != nil {
			return err
		}
		if err := replaceSection(*doc, md.Bytes()); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout)
	stdout.Write(md.Bytes())
	return runErr
}

// The markers around the generated part of a document.
const (
	beginMarker = "<!-- bench:begin: generated by pubsub-bench, replaced by each run -->"
	endMarker   = "<!-- bench:end -->"
)

// replaceSection puts body between the markers in the file at path, or
// appends the markers and body when the file has none, leaving the rest
// of the document as it is.
func replaceSection(path string, body []byte) error {
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(raw)
	block := beginMarker + "\n" + string(body) + endMarker
	i := strings.Index(s, beginMarker)
	j := strings.Index(s, endMarker)
	if i >= 0 && j > i {
		s = s[:i] + block + s[j+len(endMarker):]
	} else {
		if !strings.HasSuffix(s, "\n") && s != "" {
			s += "\n"
		}
		s += "\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// parseFractions parses comma-separated numbers; suite.New checks their
// range.
func parseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range split(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// commandLine is the command that reproduces this run.
func commandLine(args []string) string {
	return "go run ./bench/cmd/pubsub-bench suite " + strings.Join(args, " ")
}
