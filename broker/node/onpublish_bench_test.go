package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
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
// message delivered unchanged.
func echoHook(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// throughput publishes n QoS 0 messages of 64 bytes from pubs publishers
// of broker id at once, and returns the messages a second one subscriber
// received them at.
func (e *hookBenchEnv) throughput(b *testing.B, id string, pubs, n int) float64 {
	got, sub := counting0(b, e.env, id, "bench")
	defer sub.Disconnect(&paho.Disconnect{}) // the next run has its own
	clients := make([]*client, pubs)
	for i := range clients {
		clients[i], _ = e.mustConnect(id)
		defer clients[i].Disconnect(&paho.Disconnect{})
	}
	payload := make([]byte, 64)
	per := n / pubs
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
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
	want := int64(per * pubs)
	if !reach([]*atomic.Int64{got}, want) {
		b.Fatalf("the subscriber got %d of %d messages", got.Load(), want)
	}
	return float64(want) / time.Since(start).Seconds()
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
//   - Throughput: QoS 0 messages a second from 64 publishers to one
//     subscriber, without a hook and through it (nohook-msgs/s,
//     hook-msgs/s);
//   - Latency: publish-to-delivery p50 and p99 at 1,000 and 10,000
//     messages a second, without and with the hook, and the difference
//     (added-p50-ms, added-p99-ms);
//   - Isolation: broker "plain"'s throughput while broker "hooked" has an
//     idle echo hook, then while its 64 publishers wait on a hook that
//     never answers, then with the echo hook again (other-ratio: the
//     second over the mean of the others).
//
// b.N sets the messages of each throughput run.
func BenchmarkOnPublishHook(b *testing.B) {
	e := newHookBenchEnv(b)
	echo := echoHook(b)
	n := max(b.N, 64*100)
	b.Run("Throughput", func(b *testing.B) {
		e.hook("", nil)
		noHook := e.throughput(b, "hooked", 64, n)
		e.hook(echo.URL, nil)
		withHook := e.throughput(b, "hooked", 64, n)
		b.ReportMetric(noHook, "nohook-msgs/s")
		b.ReportMetric(withHook, "hook-msgs/s")
		b.ReportMetric(withHook/noHook, "hook-ratio")
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
		e.hook(echo.URL, nil)
		before := e.throughput(b, "plain", 64, n)
		release := make(chan struct{})
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release: // the end of the run
			}
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		defer hang.Close()
		e.hook(hang.URL, &feed.OnPublish{Timeout: 60})
		stuck := make([]*client, 64)
		for i := range stuck {
			stuck[i], _ = e.mustConnect("hooked")
			go func() { _ = stuck[i].Publish0([]byte("never answered")) }()
		}
		metric := `pubsub_hook_messages_queued{broker="` + e.brokers["hooked"].host + `"}`
		eventually(b, "the hooked broker's publishers to wait", func() bool { return e.metric(metric) > 0 })
		during := e.throughput(b, "plain", 64, n)
		close(release)
		e.hook(echo.URL, nil)
		after := e.throughput(b, "plain", 64, n)
		b.ReportMetric(before, "other-before-msgs/s")
		b.ReportMetric(during, "other-during-msgs/s")
		b.ReportMetric(after, "other-after-msgs/s")
		b.ReportMetric(during/((before+after)/2), "other-ratio")
	})
}
