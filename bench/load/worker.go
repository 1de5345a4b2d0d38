package load

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/bench/hist"
)

// The parent and its worker processes speak JSON lines: one Command on
// the worker's stdin, one Reply on its stdout, in turn. Workers log to
// stderr. A worker holds its clients from one "connect" to the next
// "close", so that several runs can reuse the same connections.

// Command is an instruction to a worker.
type Command struct {
	Op      string       `json:"op"` // connect, run, close, exit
	Connect *ConnectSpec `json:"connect,omitempty"`
	Run     *RunSpec     `json:"run,omitempty"`
}

// ConnectSpec asks a worker to connect clients.
type ConnectSpec struct {
	Target  Target       `json:"target"`
	Clients []ClientSpec `json:"clients"`
	// Concurrency is how many connections are opened at once.
	Concurrency int `json:"concurrency"`
	// Start is when to begin, in Unix ns, so that workers start together.
	Start int64 `json:"start"`
	// Offset is the index of the worker's first client in the whole
	// load, which picks its source address.
	Offset int `json:"offset"`
}

// RunSpec asks a worker to run its publishers.
type RunSpec struct {
	// Start, in Unix ns, is when publishing begins; the measurement
	// window opens Warmup later and lasts Duration; publishers stop when
	// it closes.
	Start    int64         `json:"start"`
	Warmup   time.Duration `json:"warmup"`
	Duration time.Duration `json:"duration"`
	// Drain bounds the wait for deliveries after publishing stops; it
	// ends sooner once nothing has arrived for a tenth of it.
	Drain time.Duration `json:"drain"`
	// Rate is each publisher's messages per second; 0 is as fast as the
	// connection takes them.
	Rate        float64 `json:"rate"`
	PayloadSize int     `json:"payload_size"`
}

// Reply is a worker's answer to one command.
type Reply struct {
	Err     string         `json:"err,omitempty"`
	Connect *ConnectResult `json:"connect,omitempty"`
	Run     *RunResult     `json:"run,omitempty"`
}

// ConnectResult reports a connect command.
type ConnectResult struct {
	Connected int `json:"connected"`
	Failed    int `json:"failed"`
	// Errors holds a few distinct failure messages with their counts.
	Errors map[string]int `json:"errors,omitempty"`
	// Elapsed is from Start until the last connection was up or failed.
	Elapsed time.Duration `json:"elapsed"`
	// Latency is each connection's time from dial to its last ack.
	Latency hist.Snapshot `json:"latency"`
	// Resumed counts connections whose TLS session was resumed.
	Resumed int `json:"resumed,omitempty"`
}

// RunResult reports a run command.
type RunResult struct {
	Sent           uint64        `json:"sent"`
	SentWindow     uint64        `json:"sent_window"`
	Received       uint64        `json:"received"`
	ReceivedWindow uint64        `json:"received_window"`
	Latency        hist.Snapshot `json:"latency"`
	// Disconnected counts clients whose connection ended during the run.
	Disconnected int `json:"disconnected"`
	// Silent counts subscribers that received nothing in the run.
	Silent int `json:"silent"`
}

// ServeWorker runs a worker's command loop on r and w until "exit" or
// the end of r. It closes every client before it returns.
func ServeWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	wk := &worker{}
	defer wk.closeAll()
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	enc := json.NewEncoder(w)
	for {
		var cmd Command
		if err := dec.Decode(&cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var rep Reply
		switch cmd.Op {
		case "connect":
			if cmd.Connect == nil {
				rep.Err = "connect without spec"
				break
			}
			rep.Connect = wk.connect(ctx, cmd.Connect)
		case "run":
			if cmd.Run == nil {
				rep.Err = "run without spec"
				break
			}
			rep.Run = wk.run(cmd.Run)
		case "close":
			wk.closeAll()
		case "exit":
			return enc.Encode(rep)
		default:
			rep.Err = fmt.Sprintf("unknown op %q", cmd.Op)
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
}

type worker struct {
	clients []*Client
	lat     hist.Histogram
	win     Window
}

func (wk *worker) connect(ctx context.Context, spec *ConnectSpec) *ConnectResult {
	cfg := tlsConfig(&spec.Target)
	// HTTP streams share the MQTT port; ALPN tells the node which is which.
	sseCfg := cfg.Clone()
	sseCfg.NextProtos = []string{"http/1.1"}
	var ips []net.IP
	for _, s := range spec.Target.SourceIPs {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		}
	}
	// A far-future window: deliveries before the first run are counted
	// as received but not timed.
	wk.win.Start.Store(1 << 62)
	wk.win.End.Store(1 << 62)
	var connLat hist.Histogram
	res := &ConnectResult{Errors: map[string]int{}}
	var mu sync.Mutex
	start := time.Unix(0, spec.Start)
	time.Sleep(time.Until(start))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(1, spec.Concurrency) {
		wg.Go(func() {
			for i := range jobs {
				var src net.IP
				if len(ips) > 0 {
					src = ips[(spec.Offset+i)%len(ips)]
				}
				t0 := time.Now()
				dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				dial := Dial
				ccfg := cfg
				if spec.Clients[i].SSE {
					dial, ccfg = DialSSE, sseCfg
				}
				c, err := dial(dctx, &spec.Target, ccfg, src, spec.Clients[i], &wk.lat, &wk.win)
				cancel()
				mu.Lock()
				if err != nil {
					res.Failed++
					if len(res.Errors) < 8 || res.Errors[err.Error()] > 0 {
						res.Errors[err.Error()]++
					}
				} else {
					connLat.Record(time.Since(t0))
					res.Connected++
					if tc, ok := c.conn.(*tls.Conn); ok && tc.ConnectionState().DidResume {
						res.Resumed++
					}
					wk.clients = append(wk.clients, c)
				}
				mu.Unlock()
			}
		})
	}
	for i := range spec.Clients {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Latency = connLat.Snapshot(false)
	return res
}

func (wk *worker) run(spec *RunSpec) *RunResult {
	start := time.Unix(0, spec.Start)
	winStart := start.Add(spec.Warmup)
	end := winStart.Add(spec.Duration)
	wk.lat.Snapshot(true)
	base := make([][4]uint64, len(wk.clients))
	for i, c := range wk.clients {
		base[i] = [4]uint64{c.sent.Load(), c.sentWin.Load(), c.recv.Load(), c.recvWin.Load()}
	}
	wk.win.Start.Store(winStart.UnixNano())
	wk.win.End.Store(end.UnixNano())
	var wg sync.WaitGroup
	for _, c := range wk.clients {
		if c.spec.Pub != "" {
			wg.Go(func() { c.publish(start, end, spec.Rate, spec.PayloadSize) })
		}
	}
	wg.Wait()
	// A worker without publishers gets here at once: wait for the others'
	// to finish too.
	time.Sleep(time.Until(end))
	// Drain: wait until deliveries stop arriving.
	quiet := max(spec.Drain/10, 100*time.Millisecond)
	deadline := end.Add(spec.Drain)
	for time.Now().Before(deadline) {
		time.Sleep(quiet / 4)
		var last int64
		for _, c := range wk.clients {
			last = max(last, c.lastRecv.Load())
		}
		if time.Since(time.Unix(0, max(last, end.UnixNano()))) >= quiet {
			break
		}
	}
	res := &RunResult{Latency: wk.lat.Snapshot(true)}
	for i, c := range wk.clients {
		res.Sent += c.sent.Load() - base[i][0]
		res.SentWindow += c.sentWin.Load() - base[i][1]
		res.Received += c.recv.Load() - base[i][2]
		res.ReceivedWindow += c.recvWin.Load() - base[i][3]
		if c.spec.Sub != "" && c.recv.Load() == base[i][2] {
			res.Silent++
		}
		select {
		case <-c.done:
			res.Disconnected++
		default:
		}
	}
	return res
}

func (wk *worker) closeAll() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range wk.clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.Close()
		})
	}
	wg.Wait()
	wk.clients = nil
}

// NewTLSConfig returns the client TLS configuration of t, for callers
// that Dial themselves.
func NewTLSConfig(t *Target) *tls.Config { return tlsConfig(t) }
