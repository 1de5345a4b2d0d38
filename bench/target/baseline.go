package target

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/openpubsub/pubsub/bench/load"
)

// anonymousClients returns n client ids and no credentials: the
// baselines let anyone in, as their configuration for this suite says.
func anonymousClients(prefix string, n int) []load.ClientSpec {
	out := make([]load.ClientSpec, n)
	for i := range out {
		out[i] = load.ClientSpec{ID: fmt.Sprintf("%s-%06d", prefix, i)}
	}
	return out
}

// listening is a baseline broker process listening for MQTT over TLS on
// one loopback port; Mosquitto and Mochi embed it.
type listening struct {
	proc *process
	port int
}

// launch starts the broker process and waits until its port accepts
// connections, stopping it if it never does.
func (l *listening) launch(ctx context.Context, logPath string, env []string, bin string, args ...string) error {
	var err error
	if l.proc, err = startProcess(logPath, env, bin, args...); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := waitTCP(wctx, l.proc, l.addr()); err != nil {
		l.Stop()
		return err
	}
	return nil
}

func (l *listening) addr() string { return "127.0.0.1:" + strconv.Itoa(l.port) }

// Stop implements Broker.
func (l *listening) Stop() { l.proc.stop(); l.proc = nil }

// PID implements Broker.
func (l *listening) PID() int { return l.proc.pid() }

// target is the load tool's view of the broker, which serves certDER.
func (l *listening) target(certDER []byte) load.Target {
	return load.Target{Addr: l.addr(), ServerName: "localhost", CertDER: certDER}
}

// Mosquitto is Debian's mosquitto with a TLS listener on the suite's
// certificate, anonymous access and no connection limit.
type Mosquitto struct {
	Bin    string // default: mosquitto on PATH, else /usr/sbin/mosquitto
	Dir    string
	Certs  *Certs
	LogDir string
	// MaxQueued is max_queued_messages: deliveries held per client before
	// QoS 0 ones are dropped, set to the node's MaxWritesPending so the
	// two drop at the same depth.
	MaxQueued int

	listening
}

// Name implements Broker.
func (m *Mosquitto) Name() string { return "mosquitto" }

// FindMosquitto returns the mosquitto binary's path.
func FindMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto", nil
	}
	return "", fmt.Errorf("mosquitto is not installed (apt-get install -y mosquitto)")
}

// Start implements Broker.
func (m *Mosquitto) Start(ctx context.Context) error {
	if m.Bin == "" {
		bin, err := FindMosquitto()
		if err != nil {
			return err
		}
		m.Bin = bin
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	m.port = port
	if m.MaxQueued == 0 {
		m.MaxQueued = 1024
	}
	conf := fmt.Sprintf(`# Written by the Pub/Sub benchmark suite.
per_listener_settings false
allow_anonymous true
persistence false
# Go sets TCP_NODELAY on every connection; without it here Nagle's
# algorithm would add up to 40 ms to mosquitto's deliveries.
set_tcp_nodelay true
max_connections -1
max_keepalive 65535
max_queued_messages %d
max_inflight_messages 256
memory_limit 0
sys_interval 0
log_dest stderr
log_type error
log_type warning
listener %d 127.0.0.1
certfile %s
keyfile %s
tls_version tlsv1.3
`, m.MaxQueued, port, m.Certs.CertFile, m.Certs.KeyFile)
	confPath := filepath.Join(m.Dir, "mosquitto.conf")
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	return m.launch(ctx, filepath.Join(m.LogDir, "mosquitto.log"), nil, m.Bin, "-c", confPath)
}

// Target implements Broker.
func (m *Mosquitto) Target() load.Target { return m.target(m.Certs.LeafDER) }

// Clients implements Broker.
func (m *Mosquitto) Clients(_ context.Context, n int) ([]load.ClientSpec, error) {
	return anonymousClients("mosq", n), nil
}

// HeapBytes implements Broker: mosquitto is not a Go program.
func (m *Mosquitto) HeapBytes() (int64, bool) { return 0, false }

// Mochi is bench/cmd/mochi-server: mochi-mqtt with an allow-all hook,
// built on our fork ("mochi") or on upstream mochi-mqtt v2.7.9
// ("mochi-upstream", built with bench/upstream/go.mod).
type Mochi struct {
	// Label is the broker's name in the suite; "" is "mochi".
	Label  string
	Bin    string
	Certs  *Certs
	LogDir string
	Env    []string
	// The limits the node runs with, passed on so the two match.
	WritesPending, ReadBuffer, WriteBuffer int
	ReceiveMaximum, MaxInflight            int

	listening
	ops int
}

// Name implements Broker.
func (m *Mochi) Name() string {
	if m.Label == "" {
		return "mochi"
	}
	return m.Label
}

// Start implements Broker.
func (m *Mochi) Start(ctx context.Context) error {
	var err error
	if m.port, err = FreePort(); err != nil {
		return err
	}
	if m.ops, err = FreePort(); err != nil {
		return err
	}
	return m.launch(ctx, filepath.Join(m.LogDir, m.Name()+".log"), m.Env, m.Bin,
		"-addr", m.addr(), "-ops-addr", "127.0.0.1:"+strconv.Itoa(m.ops), "-cert", m.Certs.CertFile, "-key", m.Certs.KeyFile,
		"-writes-pending", strconv.Itoa(m.WritesPending), "-read-buffer", strconv.Itoa(m.ReadBuffer), "-write-buffer", strconv.Itoa(m.WriteBuffer),
		"-receive-maximum", strconv.Itoa(m.ReceiveMaximum), "-max-inflight", strconv.Itoa(m.MaxInflight))
}

// Target implements Broker.
func (m *Mochi) Target() load.Target { return m.target(m.Certs.LeafDER) }

// Clients implements Broker.
func (m *Mochi) Clients(_ context.Context, n int) ([]load.ClientSpec, error) {
	return anonymousClients(m.Name(), n), nil
}

// HeapBytes implements Broker.
func (m *Mochi) HeapBytes() (int64, bool) {
	return scrapeGauge(fmt.Sprintf("http://127.0.0.1:%d/metrics", m.ops), "go_memstats_heap_inuse_bytes")
}

// CollectGarbage implements Broker: mosquitto has no garbage collector.
func (m *Mosquitto) CollectGarbage() bool { return false }

// CollectGarbage implements Broker.
func (m *Mochi) CollectGarbage() bool { return forceGC(m.ops) }

// Profile saves a pprof profile of the server to path, as PubSub.Profile
// does of a node, so that the two can be compared function by function.
func (m *Mochi) Profile(kind string, d time.Duration, path string) error {
	return fetchProfile(m.ops, kind, d, path)
}
