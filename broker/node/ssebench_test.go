package node_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/broker/node"
)

// The SSE fan-out benchmark: N concurrent SSE subscribers of one topic on
// one node, held by a separate process (this test binary again, in
// client mode), so that the node's memory is measured alone. Run it with
//
//	PUBSUB_SSE_BENCH=10000 go test -run TestSSEScale -v ./broker/node/
//
// It reports the node's RSS and Go heap growth per subscriber, and the
// delivery latency of messages fanned out to all of them (publish to
// receipt, both clocks being this machine's).

// sseBenchClientEnv carries the client mode's parameters:
// addr,host,CA file,token,clients,messages.
const sseBenchClientEnv = "PUBSUB_SSE_BENCH_CLIENT"

func TestSSEScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PUBSUB_SSE_BENCH"))
	if n <= 0 {
		t.Skip("set PUBSUB_SSE_BENCH to the number of subscribers to run the SSE benchmark")
	}
	const messages = 20
	e := newEnv(t, node.Limits{}, "a")
	tok, _ := e.brokers["a"].token(t, nil)
	caFile := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	rss0, heap0 := memory()

	cmd := exec.Command(os.Args[0], "-test.run=^TestSSEBenchClient$", "-test.v")
	cmd.Env = append(os.Environ(), sseBenchClientEnv+"="+strings.Join([]string{e.httpsAddr(), e.brokers["a"].host, caFile, tok, strconv.Itoa(n), strconv.Itoa(messages)}, ","))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	wait := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Fatalf("client process ended before %q", prefix)
		return ""
	}
	start := time.Now()
	wait("READY")
	t.Logf("%d subscribers connected in %v", n, time.Since(start).Round(time.Millisecond))
	host := e.brokers["a"].host
	if got := e.metric(`pubsub_sse_clients{broker="` + host + `"}`); got != int64(n) {
		t.Fatalf("node counts %d SSE clients, want %d", got, n)
	}
	rss1, heap1 := memory()
	if f := os.Getenv("PUBSUB_SSE_BENCH_HEAPPROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		_ = pprof.WriteHeapProfile(out)
		out.Close()
	}
	t.Logf("node memory per subscriber: RSS %.1f KiB, Go heap %.1f KiB (RSS %d -> %d MiB, heap %d -> %d MiB)",
		float64(rss1-rss0)/1024/float64(n), float64(heap1-heap0)/1024/float64(n), rss0>>20, rss1>>20, heap0>>20, heap1>>20)

	c, _ := e.mustConnect("a")
	for i := range messages {
		// Each message carries its publish time; the client process
		// reads it on arrival and acknowledges the round on stdout.
		if _, err := c.publish(t, "bench", 0, strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			t.Fatal(err)
		}
		wait(fmt.Sprintf("ROUND %d", i))
	}
	stdin.Close()
	t.Log(strings.TrimPrefix(wait("LATENCY"), "LATENCY "))
	if ev := e.metric(`pubsub_sse_evicted_total{broker="` + host + `"}`); ev != 0 {
		t.Fatalf("%d subscribers were evicted", ev)
	}
}

// memory returns the process's resident set and the Go heap in use, after
// a collection.
func memory() (rss, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, _ := os.ReadFile("/proc/self/status")
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			rss = kb << 10
		}
	}
	return rss, ms.HeapInuse
}

// TestSSEBenchClient is the client process of TestSSEScale.
func TestSSEBenchClient(t *testing.T) {
	spec := os.Getenv(sseBenchClientEnv)
	if spec == "" {
		t.Skip("run by TestSSEScale")
	}
	p := strings.Split(spec, ",")
	addr, host, caFile, tok := p[0], p[1], p[2], p[3]
	n, _ := strconv.Atoi(p[4])
	messages, _ := strconv.Atoi(p[5])
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	cfg := &tls.Config{ServerName: host, RootCAs: pool, ClientSessionCache: tls.NewLRUClientSessionCache(1)}

	var ready sync.WaitGroup
	ready.Add(n)
	var mu sync.Mutex
	lat := make([][]time.Duration, messages)
	got := make([]atomic.Int64, messages)
	sem := make(chan struct{}, 64)
	for i := range n {
		sem <- struct{}{}
		go func() {
			// Spread the connections over source addresses, so that ports
			// never run short.
			d := &tlsDialer{local: fmt.Sprintf("127.0.0.%d", 2+i%200)}
			conn, err := d.dial(addr, cfg)
			<-sem
			if err != nil {
				t.Errorf("subscriber %d: %v", i, err)
				ready.Done()
				return
			}
			fmt.Fprintf(conn, "GET /events?topic=bench HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", host, tok)
			r := bufio.NewReaderSize(conn, 1024)
			round := 0
			opened := false
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					if !opened {
						t.Errorf("subscriber %d: %v", i, err)
						ready.Done()
					}
					return
				}
				switch {
				case strings.HasPrefix(line, "event: stream-open"):
					opened = true
					ready.Done()
				case strings.HasPrefix(line, "data: ") && opened && !strings.HasPrefix(line, "data: {"):
					sent, _ := strconv.ParseInt(strings.TrimSpace(line[6:]), 10, 64)
					d := time.Since(time.Unix(0, sent))
					mu.Lock()
					lat[round] = append(lat[round], d)
					mu.Unlock()
					if got[round].Add(1) == int64(n) {
						fmt.Printf("ROUND %d\n", round)
					}
					round++
				}
			}
		}()
	}
	ready.Wait()
	fmt.Println("READY")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the node's side closes stdin
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		t.Fatal("no deliveries")
	}
	q := func(f float64) time.Duration { return all[int(f*float64(len(all)-1))] }
	fmt.Printf("LATENCY %d deliveries (%d messages x %d subscribers): p50 %v, p90 %v, p99 %v, max %v\n",
		len(all), messages, n, q(0.5).Round(10*time.Microsecond), q(0.9).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), all[len(all)-1].Round(10*time.Microsecond))
}

// tlsDialer dials TLS from a given loopback source address.
type tlsDialer struct{ local string }

func (d *tlsDialer) dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	nd := &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(d.local)}}
	return tls.DialWithDialer(nd, "tcp", addr, cfg)
}
