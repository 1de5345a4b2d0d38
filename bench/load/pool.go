// Package load is the load generator: raw MQTT v5 clients over TLS, run
// in worker processes that the parent forks from its own executable and
// drives over their stdin and stdout. Several processes let one load hold
// more connections than one process may have file descriptors (20,000
// here) and use both cores without one Go runtime's scheduler and GC
// pausing every client at once.
package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
)

// MaxClientsPerWorker keeps each worker well under the 20,000 file
// descriptors a process may hold here.
const MaxClientsPerWorker = 18_000

// Pool is a set of worker processes.
type Pool struct {
	workers []*proc
}

type proc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
	enc *json.Encoder
}

// StartPool starts n workers: exe run with args (the load tool itself,
// with its worker subcommand). Their stderr goes to stderr.
func StartPool(n int, exe string, args []string, stderr io.Writer) (*Pool, error) {
	p := &Pool{}
	for range n {
		cmd := exec.Command(exe, args...)
		cmd.Stderr = stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			p.Stop()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			p.Stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			p.Stop()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		p.workers = append(p.workers, &proc{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReaderSize(out, 1<<20)), enc: json.NewEncoder(in)})
	}
	return p, nil
}

// Size returns the number of workers.
func (p *Pool) Size() int { return len(p.workers) }

// PIDs returns the workers' process ids.
func (p *Pool) PIDs() []int {
	var out []int
	for _, w := range p.workers {
		out = append(out, w.cmd.Process.Pid)
	}
	return out
}

// call sends each worker its command and collects the replies in order.
func (p *Pool) call(ctx context.Context, cmds []Command) ([]Reply, error) {
	reps := make([]Reply, len(p.workers))
	errs := make([]error, len(p.workers))
	var wg sync.WaitGroup
	for i, w := range p.workers {
		wg.Go(func() {
			if err := w.enc.Encode(cmds[i]); err != nil {
				errs[i] = fmt.Errorf("worker %d: %w", i, err)
				return
			}
			done := make(chan error, 1)
			go func() { done <- w.out.Decode(&reps[i]) }()
			select {
			case err := <-done:
				if err != nil {
					errs[i] = fmt.Errorf("worker %d: %w", i, err)
				} else if reps[i].Err != "" {
					errs[i] = fmt.Errorf("worker %d: %s", i, reps[i].Err)
				}
			case <-ctx.Done():
				errs[i] = ctx.Err()
				_ = w.cmd.Process.Kill()
			}
		})
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

// Split deals clients to the workers round-robin, so that every role is
// spread evenly over them.
func (p *Pool) Split(clients []ClientSpec) [][]ClientSpec {
	out := make([][]ClientSpec, len(p.workers))
	for i, c := range clients {
		out[i%len(out)] = append(out[i%len(out)], c)
	}
	return out
}

// ConnectSummary merges the workers' connect results.
type ConnectSummary struct {
	Connected, Failed int
	Errors            map[string]int
	// Elapsed is the slowest worker's.
	Elapsed time.Duration
	Latency hist.Snapshot
	Resumed int
}

// Connect connects clients on the workers, all starting together, with
// concurrency connections in flight per worker.
func (p *Pool) Connect(ctx context.Context, t Target, clients []ClientSpec, concurrency int) (ConnectSummary, error) {
	parts := p.Split(clients)
	for _, part := range parts {
		if len(part) > MaxClientsPerWorker {
			return ConnectSummary{}, fmt.Errorf("load: %d clients in one worker exceed %d; use more workers", len(part), MaxClientsPerWorker)
		}
	}
	start := time.Now().Add(200 * time.Millisecond).UnixNano()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmds := make([]Command, len(parts))
	for i, part := range parts {
		cmds[i] = Command{Op: "connect", Connect: &ConnectSpec{Target: t, Clients: part, Concurrency: concurrency, Start: start, Offset: i}}
	}
	reps, err := p.call(ctx, cmds)
	s := ConnectSummary{Errors: map[string]int{}}
	for _, r := range reps {
		if r.Connect == nil {
			continue
		}
		s.Connected += r.Connect.Connected
		s.Failed += r.Connect.Failed
		for k, v := range r.Connect.Errors {
			s.Errors[k] += v
		}
		s.Elapsed = max(s.Elapsed, r.Connect.Elapsed)
		s.Resumed += r.Connect.Resumed
		s.Latency.Merge(r.Connect.Latency)
	}
	return s, err
}

// Run runs every publisher of every worker; spec.Start is set here.
func (p *Pool) Run(ctx context.Context, spec RunSpec) (RunResult, error) {
	spec.Start = time.Now().Add(200 * time.Millisecond).UnixNano()
	// Bounded: a worker stuck on a broker that stopped answering is
	// killed rather than waited for.
	ctx, cancel := context.WithTimeout(ctx, spec.Warmup+spec.Duration+spec.Drain+30*time.Second)
	defer cancel()
	cmds := make([]Command, len(p.workers))
	for i := range cmds {
		cmds[i] = Command{Op: "run", Run: &spec}
	}
	reps, err := p.call(ctx, cmds)
	var s RunResult
	for _, r := range reps {
		if r.Run == nil {
			continue
		}
		s.Sent += r.Run.Sent
		s.SentWindow += r.Run.SentWindow
		s.Received += r.Run.Received
		s.ReceivedWindow += r.Run.ReceivedWindow
		s.Disconnected += r.Run.Disconnected
		s.Silent += r.Run.Silent
		s.Latency.Merge(r.Run.Latency)
	}
	return s, err
}

// CloseClients disconnects every client of every worker.
func (p *Pool) CloseClients(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmds := make([]Command, len(p.workers))
	for i := range cmds {
		cmds[i] = Command{Op: "close"}
	}
	_, err := p.call(ctx, cmds)
	return err
}

// Stop ends the workers: "exit" first, then a kill after a grace period.
func (p *Pool) Stop() {
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Go(func() {
			_ = w.enc.Encode(Command{Op: "exit"})
			_ = w.in.Close()
			done := make(chan struct{})
			go func() { _ = w.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = w.cmd.Process.Kill()
				<-done
			}
		})
	}
	wg.Wait()
	p.workers = nil
}

// WorkerMain is the body of the worker subcommand: it serves commands on
// stdin and stdout until told to exit.
func WorkerMain(ctx context.Context) error {
	return ServeWorker(ctx, os.Stdin, os.Stdout)
}
