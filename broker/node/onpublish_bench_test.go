package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/feed"
	"github.com/openpubsub/pubsub/pkg/token"
)

// hookBenchEnv is a node, logging at Info like one in production, with
// brokers "hooked" and "plain"; hook(url) sets broker "hooked"'s hook.
type hookBenchEnv struct {
	*env
	priv ed25519.PrivateKey
	kid  string
}

func newHookBenchEnv(b *testing.B) *hookBenchEnv {
	e := newEnv(b, node.Limits{}, "hooked", "plain")
	e.useNode(e.startNodeWith(func(c *node.Config) {
		c.Hooks.AllowHTTP = true
		// Room for a whole run in the subscriber's queue: the runs count
		// deliveries, which QoS 0 would otherwise drop when it lags.
		c.Limits = node.Limits{MaxWritesPending: 1 << 20}
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}))
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &hookBenchEnv{env: e, priv: priv, kid: token.Thumbprint(pub)}
}

// hook points broker "hooked" at url ("" removes its hook).
func (e *hookBenchEnv) hook(url string, o *feed.OnPublish) {
	fb := e.brokers["hooked"].feed
	fb.OnPublishURL, fb.HookKey, fb.OnPublish = "", nil, nil
	if url != "" {
		fb.OnPublishURL, fb.HookKey, fb.OnPublish = url, &feed.HMACKey{ID: e.kid, Secret: e.priv.Seed()}, o
	}
	e.apply(feed.Event{Type: feed.TypeBroker, Broker: &fb})
}

// echoHook is a local hook that answers each request with its body: every
// message delivered unchanged. It reads each body into a buffer of the
// declared length, as a receiver that cares about its own cost would.
func echoHook(b *testing.B) *httptest.Server {
	var bufs sync.Pool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bp, _ := bufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		if int64(cap(*bp)) < r.ContentLength {
			*bp = make([]byte, r.ContentLength)
		}
		body := (*bp)[:r.ContentLength]
		if _, err := io.ReadFull(r.Body, body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", itoa(r.ContentLength))
		_, _ = w.Write(body)
		bufs.Put(bp)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// fleetOf is a subscriber of "bench" counting what it gets and pubs
// publishers, all of broker id, connected once for several runs.
type fleetOf struct {
	got  *atomic.Int64
	sub  *client
	pubs []*client
	cpu  []float64 // CPU µs per message of each run
}

// connectFleet connects a fleetOf for broker id.
func (e *hookBenchEnv) connectFleet(b *testing.B, id string, pubs int) *fleetOf {
	got, sub := counting0(b, e.env, id, "bench")
	f := &fleetOf{got: got, sub: sub, pubs: make([]*client, pubs)}
	for i := range f.pubs {
		f.pubs[i], _ = e.mustConnect(id)
	}
	return f
}

// run publishes n QoS 0 messages of 64 bytes from the fleet's
// publishers at once, and returns the messages a second the subscriber
// received them at. The process's CPU time per message (node, clients
// and hook together: everything runs in this process; cpuTime is in
// fleet_sse_bench_test.go) goes to f.cpu.
func (f *fleetOf) run(b *testing.B, n int) float64 {
	payload := make([]byte, 64)
	per := n / len(f.pubs)
	base := f.got.Load()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range f.pubs {
		wg.Go(func() {
			for range per {
				if err := c.Publish0(payload); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := base + int64(per*len(f.pubs))
	if !reach([]*atomic.Int64{f.got}, want) {
		b.Fatalf("the subscriber got %d of %d messages", f.got.Load()-base, want-base)
	}
	d := time.Since(start)
	f.cpu = append(f.cpu, float64((cpuTime()-cpu0).Microseconds())/float64(per*len(f.pubs)))
	return float64(per*len(f.pubs)) / d.Seconds()
}

// close disconnects the fleet's clients, so that the next run has its
// own.
func (f *fleetOf) close() {
	_ = f.sub.Disconnect(&paho.Disconnect{})
	for _, c := range f.pubs {
		_ = c.Disconnect(&paho.Disconnect{})
	}
}

// Publish0 publishes at QoS 0 on "bench".
func (c *client) Publish0(payload []byte) error {
	_, err := c.Publish(context.Background(), &paho.Publish{Topic: "bench", Payload: payload})
	return err
}

// counting0 subscribes a client to topic at QoS 0 and counts what it gets.
func counting0(b *testing.B, e *env, id, topic string) (*atomic.Int64, *client) {
	c, _ := e.mustConnect(id)
	if _, err := c.subscribe(b, topic, 0); err != nil {
		b.Fatal(err)
	}
	n := new(atomic.Int64)
	go func() {
		for range c.msgs {
			n.Add(1)
		}
	}()
	return n, c
}

// latencies publishes at rate messages a second for d, from 10
// publishers of broker id, each message carrying its send time, and
// returns the publish-to-delivery latencies one subscriber saw.
func (e *hookBenchEnv) latencies(b *testing.B, id string, rate int, d time.Duration) []time.Duration {
	sub, _ := e.mustConnect(id)
	if _, err := sub.subscribe(b, "lat", 0); err != nil {
		b.Fatal(err)
	}
	// The next run's messages must not reach this subscriber, whose
	// queue nobody reads once it has counted this run's.
	defer sub.Disconnect(&paho.Disconnect{})
	const pubs = 10
	total := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, 0, total)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.msgs {
			lat = append(lat, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Payload)))))
			if len(lat) == total/pubs*pubs {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range pubs {
		c, _ := e.mustConnect(id)
		defer c.Disconnect(&paho.Disconnect{})
		wg.Go(func() {
			// Each publisher sends its share every millisecond.
			per := float64(rate) / pubs / 1000
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			sent, due := 0, 0.0
			for sent < total/pubs {
				<-tick.C
				for due += per; due >= 1 && sent < total/pubs; due-- {
					p := binary.BigEndian.AppendUint64(make([]byte, 0, 64), uint64(time.Now().UnixNano()))
					if _, err := c.Publish(context.Background(), &paho.Publish{Topic: "lat", Payload: p}); err != nil {
						b.Error(err)
						return
					}
					sent++
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatalf("the subscriber got %d of %d messages", len(lat), total)
	}
	slices.Sort(lat)
	return lat
}

func pct(l []time.Duration, p int) float64 {
	return float64(l[len(l)*p/100].Microseconds()) / 1000
}

// BenchmarkOnPublishHook measures a broker's on-publish hook against the
// same broker without one, in the same run, with a local hook that
// answers each request with its body:
//
//   - Throughput: QoS 0 messages a second from 64 and from 256
//     publishers to one subscriber, without a hook and through it
//     (nohook-msgs/s, hook-msgs/s), and the process's CPU time per
//     message of each;
//   - Latency: publish-to-delivery p50 and p99 at 1,000 and 10,000
//     messages a second, without and with the hook, and the difference
//     (added-p50-ms, added-p99-ms);
//   - Isolation: the throughput of broker "plain", which has no hook,
//     alone and while broker "hooked"'s 64 publishers wait on a hook that
//     never answers (other-ratio: the second over the first), and the
//     CPU time per message of each;
//   - Path: b.N messages through the hook, for profiles.
//
// b.N sets the messages of each throughput run (at least 6,400).
func BenchmarkOnPublishHook(b *testing.B) {
	e := newHookBenchEnv(b)
	echo := echoHook(b)
	for _, pubs := range []int{64, 256} {
		b.Run("Throughput/"+itoa(int64(pubs)), func(b *testing.B) {
			// Runs alternate without and with the hook, with the same
			// clients, so that both see the same machine; medians of 3
			// each. Each publisher waits for the hook's verdict on its
			// message before its next one is read, so a request carries at
			// most as many messages as there are publishers.
			n := max(b.N, pubs*100)
			f := e.connectFleet(b, "hooked", pubs)
			defer f.close()
			var noHook, withHook, noHookCPU, withHookCPU []float64
			for range 3 {
				e.hook("", nil)
				noHook = append(noHook, f.run(b, n))
				noHookCPU = append(noHookCPU, f.cpu[len(f.cpu)-1])
				e.hook(echo.URL, nil)
				withHook = append(withHook, f.run(b, n))
				withHookCPU = append(withHookCPU, f.cpu[len(f.cpu)-1])
			}
			b.ReportMetric(median(noHook), "nohook-msgs/s")
			b.ReportMetric(median(withHook), "hook-msgs/s")
			b.ReportMetric(median(withHook)/median(noHook), "hook-ratio")
			b.ReportMetric(median(noHookCPU), "nohook-cpu-µs/msg")
			b.ReportMetric(median(withHookCPU), "hook-cpu-µs/msg")
		})
	}
	b.Run("Path", func(b *testing.B) {
		// b.N messages through the hook alone, for profiles.
		f := e.connectFleet(b, "hooked", 64)
		defer f.close()
		e.hook(echo.URL, nil)
		b.ResetTimer()
		b.ReportMetric(f.run(b, max(b.N, 64)), "hook-msgs/s")
		b.ReportMetric(f.cpu[0], "hook-cpu-µs/msg")
	})
	for _, rate := range []int{1000, 10000} {
		b.Run("Latency/"+itoa(int64(rate)), func(b *testing.B) {
			e.hook("", nil)
			base := e.latencies(b, "hooked", rate, 2*time.Second)
			e.hook(echo.URL, nil)
			hooked := e.latencies(b, "hooked", rate, 2*time.Second)
			b.ReportMetric(pct(base, 50), "nohook-p50-ms")
			b.ReportMetric(pct(base, 99), "nohook-p99-ms")
			b.ReportMetric(pct(hooked, 50), "hook-p50-ms")
			b.ReportMetric(pct(hooked, 99), "hook-p99-ms")
			b.ReportMetric(pct(hooked, 50)-pct(base, 50), "added-p50-ms")
			b.ReportMetric(pct(hooked, 99)-pct(base, 99), "added-p99-ms")
		})
	}
	b.Run("Isolation", func(b *testing.B) {
		// Broker "plain" (no hook) alone, and while broker "hooked"'s 64
		// publishers wait on a hook that never answers, with the same
		// clients of "plain", in the order alone, stuck, stuck, alone,
		// twice, so that a trend in the machine's load favours neither;
		// medians of 4 each.
		n := max(b.N, 64*100)
		f := e.connectFleet(b, "plain", 64)
		defer f.close()
		var alone, during, aloneCPU, duringCPU []float64
		for _, stuck := range []bool{false, true, true, false, false, true, true, false} {
			if !stuck {
				alone = append(alone, f.run(b, n))
				aloneCPU = append(aloneCPU, f.cpu[len(f.cpu)-1])
				continue
			}
			release := e.stickHook(b, 64)
			during = append(during, f.run(b, n))
			duringCPU = append(duringCPU, f.cpu[len(f.cpu)-1])
			release()
		}
		b.ReportMetric(median(alone), "other-alone-msgs/s")
		b.ReportMetric(median(during), "other-during-msgs/s")
		b.ReportMetric(median(during)/median(alone), "other-ratio")
		b.ReportMetric(median(aloneCPU), "other-alone-cpu-µs/msg")
		b.ReportMetric(median(duringCPU), "other-during-cpu-µs/msg")
	})
}

// stickHook points broker "hooked" at a hook that never answers (timeout
// 60 s) and has pubs of its clients publish one QoS 0 message each, and
// returns once they all wait for it. release answers the requests,
// removes the hook and disconnects the clients.
func (e *hookBenchEnv) stickHook(b *testing.B, pubs int) (release func()) {
	end := make(chan struct{})
	var held atomic.Int64 // messages in the requests the hook holds
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []json.RawMessage
		_ = json.NewDecoder(r.Body).Decode(&batch)
		held.Add(int64(len(batch)))
		select {
		case <-r.Context().Done():
		case <-end:
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	e.hook(hang.URL, &feed.OnPublish{Timeout: 60})
	stuck := make([]*client, pubs)
	for i := range stuck {
		stuck[i], _ = e.mustConnect("hooked")
		go func() { _ = stuck[i].Publish0([]byte("never answered")) }()
	}
	queued := `pubsub_hook_messages_queued{broker="` + e.brokers["hooked"].host + `"}`
	eventually(b, "the hooked broker's publishers to wait", func() bool { return held.Load()+e.metric(queued) == int64(pubs) })
	return func() {
		close(end)
		e.hook("", nil)
		hang.Close()
		for _, c := range stuck {
			_ = c.Disconnect(&paho.Disconnect{})
		}
	}
}
