package http_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	cphttp "github.com/openpubsub/pubsub/controlplane/http"
	"github.com/openpubsub/pubsub/internal/testenv"
)

// benchAPI is a control plane on loopback with a namespace of 100 brokers.
type benchAPI struct {
	base string
	hdr  http.Header
	c    *http.Client
}

func newBenchAPI(b *testing.B, kind string) *benchAPI {
	b.Helper()
	st := testenv.OpenStore(b, kind)
	svc, err := controlplane.NewService(st, controlplane.Config{Domain: testDomain, KEK: testenv.KEK}, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(cphttp.NewServer(svc, nil))
	b.Cleanup(srv.Close)
	na, err := svc.CreateAccount(b.Context(), "bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	a := &benchAPI{
		base: srv.URL + cphttp.APIPrefix + "/accounts/" + na.Account.ID + "/pubsub",
		hdr:  http.Header{"X-Auth-Email": {na.Account.Email}, "X-Auth-Key": {na.APIKey}, "Content-Type": {"application/json"}},
		c:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
	}
	a.must(b, "POST", "/namespaces", `{"name": "bench"}`)
	for i := 0; i < 100; i++ {
		a.must(b, "POST", "/namespaces/bench/brokers", fmt.Sprintf(`{"name": "b%d"}`, i))
	}
	return a
}

// call sends one request and returns its status and latency.
func (a *benchAPI) call(method, path, body string) (int, time.Duration, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return 0, 0, err
	}
	req.Header = a.hdr
	start := time.Now()
	res, err := a.c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, time.Since(start), err
}

func (a *benchAPI) must(b *testing.B, method, path, body string) {
	b.Helper()
	if status, _, err := a.call(method, path, body); err != nil || status != 200 {
		b.Fatalf("%s %s: %d %v", method, path, status, err)
	}
}

// reportLatency adds p50, p99 and max (in ms) to the benchmark's output.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
}

// BenchmarkAPI measures create, get and list through a real HTTP client, one
// request at a time, on both stores.
func BenchmarkAPI(b *testing.B) {
	for _, kind := range testenv.StoreKinds {
		b.Run(kind, func(b *testing.B) {
			a := newBenchAPI(b, kind)
			for _, op := range []struct {
				name, method string
				path         func(i int) string
				body         func(i int) string
			}{
				{"CreateBroker", "POST", func(int) string { return "/namespaces/bench/brokers" }, func(i int) string { return fmt.Sprintf(`{"name": "new-%d"}`, i) }},
				{"GetBroker", "GET", func(i int) string { return fmt.Sprintf("/namespaces/bench/brokers/b%d", i%100) }, func(int) string { return "" }},
				{"ListBrokers", "GET", func(int) string { return "/namespaces/bench/brokers?per_page=20" }, func(int) string { return "" }},
			} {
				b.Run(op.name, func(b *testing.B) {
					lat := make([]time.Duration, 0, b.N)
					for i := 0; b.Loop(); i++ {
						status, d, err := a.call(op.method, op.path(i), op.body(i))
						if err != nil || status != 200 {
							b.Fatalf("%d %v", status, err)
						}
						lat = append(lat, d)
					}
					reportLatency(b, lat)
				})
			}
		})
	}
}

// BenchmarkBrokerGetAt1000rps sends broker GETs at a fixed 1,000 requests/s
// for 10 s (open loop: a slow answer does not slow the sender down) and
// reports the latency percentiles. Run it with -benchtime=1x.
func BenchmarkBrokerGetAt1000rps(b *testing.B) {
	const rate, dur = 1000, 10 * time.Second
	for _, kind := range testenv.StoreKinds {
		b.Run(kind, func(b *testing.B) {
			a := newBenchAPI(b, kind)
			for b.Loop() {
				n := int(dur.Seconds()) * rate
				lat := make([]time.Duration, n)
				errs := make(chan error, n)
				var wg sync.WaitGroup
				start := time.Now()
				for i := 0; i < n; i++ {
					// Pace by the clock, catching up when late, so the rate holds.
					if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
						time.Sleep(d)
					}
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						status, d, err := a.call("GET", fmt.Sprintf("/namespaces/bench/brokers/b%d", i%100), "")
						if err == nil && status != 200 {
							err = fmt.Errorf("status %d", status)
						}
						if err != nil {
							errs <- err
						}
						lat[i] = d
					}(i)
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
				reportLatency(b, lat)
			}
		})
	}
}

// BenchmarkMint mints 100 credentials per call from several clients at
// once and reports credentials per second.
func BenchmarkMint(b *testing.B) {
	for _, kind := range testenv.StoreKinds {
		b.Run(kind, func(b *testing.B) {
			a := newBenchAPI(b, kind)
			b.SetParallelism(2)
			start, cpu0 := time.Now(), processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if status, _, err := a.call("GET", fmt.Sprintf("/namespaces/bench/brokers/b%d/credentials?number=100&type=TOKEN", i%100), ""); err != nil || status != 200 {
						b.Errorf("%d %v", status, err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "creds/s")
			// CPU time per credential of this process (client, server and,
			// for SQLite, the store; not Postgres's own processes) moves
			// less than wall time when other work shares the machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N*100), "cpu-µs/cred")
		})
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
