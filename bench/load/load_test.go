package load_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/openpubsub/pubsub/bench/load"
	"github.com/openpubsub/pubsub/bench/target"
)

// startMochi serves an allow-all mochi over TLS on a free loopback port.
func startMochi(t *testing.T) load.Target {
	t.Helper()
	certs, err := target.GenerateCerts(t.TempDir(), []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certs.CertFile, certs.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: false})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return load.Target{Addr: addr, ServerName: "localhost", CertDER: certs.LeafDER, SourceIPs: []string{"127.0.0.2", "127.0.0.3"}}
}

// worker runs load.ServeWorker over pipes, as a worker process would.
type testWorker struct {
	enc *json.Encoder
	dec *json.Decoder
}

func startWorker(t *testing.T) *testWorker {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- load.ServeWorker(context.Background(), inR, outW) }()
	t.Cleanup(func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &testWorker{enc: json.NewEncoder(inW), dec: json.NewDecoder(bufio.NewReader(outR))}
}

func (w *testWorker) call(t *testing.T, cmd load.Command) load.Reply {
	t.Helper()
	if err := w.enc.Encode(cmd); err != nil {
		t.Fatal(err)
	}
	var rep load.Reply
	if err := w.dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.Err != "" {
		t.Fatal(rep.Err)
	}
	return rep
}

// TestWorkerFanOut runs a tiny fan-out through a worker: one publisher,
// three subscribers, a paced run, and checks that every message arrived,
// was timed, and that the connections close.
func TestWorkerFanOut(t *testing.T) {
	for _, qos := range []byte{0, 1} {
		t.Run([]string{"QoS0", "QoS1"}[qos], func(t *testing.T) {
			tg := startMochi(t)
			w := startWorker(t)
			clients := []load.ClientSpec{
				{ID: "s1", Sub: "bench/t", SubQoS: qos}, {ID: "s2", Sub: "bench/t", SubQoS: qos}, {ID: "s3", Sub: "bench/+", SubQoS: qos},
				{ID: "p1", Pub: "bench/t", PubQoS: qos},
			}
			rep := w.call(t, load.Command{Op: "connect", Connect: &load.ConnectSpec{Target: tg, Clients: clients, Concurrency: 2, Start: time.Now().UnixNano()}})
			if rep.Connect.Connected != 4 || rep.Connect.Failed != 0 {
				t.Fatalf("connect: %+v", rep.Connect)
			}
			run := &load.RunSpec{Start: time.Now().Add(50 * time.Millisecond).UnixNano(), Warmup: 100 * time.Millisecond, Duration: 400 * time.Millisecond,
				Drain: time.Second, Rate: 500, PayloadSize: 64}
			r := w.call(t, load.Command{Op: "run", Run: run}).Run
			if r.Sent < 200 || r.Sent > 300 {
				t.Errorf("sent %d at 500/s for 0.5 s", r.Sent)
			}
			if r.Received != 3*r.Sent {
				t.Errorf("received %d of %d deliveries", r.Received, 3*r.Sent)
			}
			if r.ReceivedWindow == 0 || r.Latency.Count != r.ReceivedWindow {
				t.Errorf("%d deliveries in the window, %d timed", r.ReceivedWindow, r.Latency.Count)
			}
			if p50 := r.Latency.Quantile(0.5); p50 <= 0 || p50 > time.Second {
				t.Errorf("p50 latency %v", p50)
			}
			w.call(t, load.Command{Op: "close"})
		})
	}
}

// TestUnthrottled checks that a publisher at rate 0 sends as fast as it
// can and stops on time.
func TestUnthrottled(t *testing.T) {
	tg := startMochi(t)
	w := startWorker(t)
	clients := []load.ClientSpec{{ID: "s", Sub: "x/1"}, {ID: "p", Pub: "x/1"}}
	w.call(t, load.Command{Op: "connect", Connect: &load.ConnectSpec{Target: tg, Clients: clients, Concurrency: 2, Start: time.Now().UnixNano()}})
	t0 := time.Now()
	r := w.call(t, load.Command{Op: "run", Run: &load.RunSpec{Start: time.Now().UnixNano(), Duration: 300 * time.Millisecond, Drain: time.Second, PayloadSize: 256}}).Run
	if el := time.Since(t0); el > 3*time.Second {
		t.Errorf("the run took %v", el)
	}
	if r.Sent < 1000 || r.Received == 0 || r.Received > r.Sent {
		t.Errorf("sent %d, received %d", r.Sent, r.Received)
	}
}

// TestRefused reports a refused CONNECT as a failure with its reason.
func TestRefused(t *testing.T) {
	tg := startMochi(t)
	tg.CertDER = []byte("another certificate")
	w := startWorker(t)
	rep := w.call(t, load.Command{Op: "connect", Connect: &load.ConnectSpec{Target: tg, Clients: []load.ClientSpec{{ID: "a"}}, Concurrency: 1, Start: time.Now().UnixNano()}})
	if rep.Connect.Failed != 1 || len(rep.Connect.Errors) != 1 {
		t.Errorf("connect against the wrong certificate: %+v", rep.Connect)
	}
}

// TestSplitWorkers puts the publishers in one worker and their
// subscribers in another, as the pool deals pairs: the subscribers'
// worker, which has no publisher to wait for, must still count every
// delivery until the publishers' run ends.
func TestSplitWorkers(t *testing.T) {
	tg := startMochi(t)
	subs, pubs := startWorker(t), startWorker(t)
	var sc, pc []load.ClientSpec
	for i := range 10 {
		topic := fmt.Sprint("bench/pair/", i)
		sc = append(sc, load.ClientSpec{ID: fmt.Sprint("s", i), Sub: topic})
		pc = append(pc, load.ClientSpec{ID: fmt.Sprint("p", i), Pub: topic})
	}
	subs.call(t, load.Command{Op: "connect", Connect: &load.ConnectSpec{Target: tg, Clients: sc, Concurrency: 4, Start: time.Now().UnixNano()}})
	pubs.call(t, load.Command{Op: "connect", Connect: &load.ConnectSpec{Target: tg, Clients: pc, Concurrency: 4, Start: time.Now().UnixNano()}})
	spec := &load.RunSpec{Start: time.Now().Add(50 * time.Millisecond).UnixNano(), Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
		Drain: time.Second, Rate: 200, PayloadSize: 64}
	sent := make(chan load.Reply)
	go func() { sent <- pubs.call(t, load.Command{Op: "run", Run: spec}) }()
	got := subs.call(t, load.Command{Op: "run", Run: spec}).Run
	want := (<-sent).Run
	if want.Sent == 0 || got.Received != want.Sent {
		t.Errorf("sent %d, received %d", want.Sent, got.Received)
	}
}
