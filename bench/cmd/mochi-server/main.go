// Command mochi-server is raw mochi-mqtt, the library the Pub/Sub node is
// built on, with an allow-all hook over TLS: the ceiling for the node's
// overhead in the benchmark suite. It takes the same limits and TLS
// settings the node uses, so that the difference the suite measures is
// the node's routing, authentication and ACL work, not a configuration.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/metrics"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8883", "MQTT over TLS listen address")
	ops := flag.String("ops-addr", "127.0.0.1:9091", "address of /metrics (Go heap and RSS)")
	certFile := flag.String("cert", "", "certificate chain (PEM)")
	keyFile := flag.String("key", "", "private key (PEM)")
	writesPending := flag.Int("writes-pending", 1024, "MaximumClientWritesPending")
	readBuf := flag.Int("read-buffer", 2048, "ClientNetReadBufferSize")
	writeBuf := flag.Int("write-buffer", 2048, "ClientNetWriteBufferSize")
	receiveMax := flag.Int("receive-maximum", 256, "Capabilities.ReceiveMaximum (QoS 1 and 2 publishes a client may have unacknowledged)")
	maxInflight := flag.Int("max-inflight", 256, "Capabilities.MaximumInflight (QoS 1 and 2 deliveries held per client)")
	flag.Parse()
	if err := run(*addr, *ops, *certFile, *keyFile, *writesPending, *readBuf, *writeBuf, *receiveMax, *maxInflight); err != nil {
		fmt.Fprintln(os.Stderr, "mochi-server:", err)
		os.Exit(1)
	}
}

func run(addr, ops, certFile, keyFile string, writesPending, readBuf, writeBuf, receiveMax, maxInflight int) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(writesPending)
	caps.ReceiveMaximum = uint16(receiveMax)
	caps.MaximumInflight = uint16(maxInflight)
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  readBuf,
		ClientNetWriteBufferSize: writeBuf,
		Logger:                   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		// As the node does: $SYS updates read the runtime's memory
		// statistics, which stops the world.
		SysTopicResendInterval: 365 * 24 * 3600,
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	// The node's TLS settings: X25519 (and P-256) for key exchange, Go's
	// defaults for tickets.
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: addr, TLSConfig: tcfg})); err != nil {
		return err
	}
	if err := srv.Serve(); err != nil {
		return err
	}
	go func() {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", writeMetrics)
		// The profiles, as on the node's ops server; the suite forces a
		// GC through the heap profile before it reads the idle RSS.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		_ = http.ListenAndServe(ops, mux)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return srv.Close()
}

// writeMetrics exposes the Go heap in use as the node does, under the
// name Prometheus' Go collector gives it.
func writeMetrics(w http.ResponseWriter, _ *http.Request) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\n", s[0].Value.Uint64()+s[1].Value.Uint64())
}
