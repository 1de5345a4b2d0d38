package app

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/openpubsub/pubsub/broker/certs"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/controlplane"
)

// DevConfig configures `pubsub dev`: the control plane and one broker node
// on loopback, with the embedded store and a local CA, all state in DataDir.
type DevConfig struct {
	DataDir   string   // default .pubsub
	Addr      string   // REST API; default 127.0.0.1:8080
	MQTTAddrs []string // MQTT over TLS; default 127.0.0.1:8883 and 127.0.0.1:8443
	// HTTPSAddrs serve SSE, HTTP publish, MQTT over WebSocket and the
	// example page; default 127.0.0.1:8884.
	HTTPSAddrs []string
	OpsAddr    string // the node's /metrics, /healthz, /readyz; default 127.0.0.1:9090
	Domain     string
	Email      string // the dev account's email
	Limits     node.Limits
	// Edge configures SSE, HTTP publish and WebSocket; the dev stack
	// always serves the example page.
	Edge edge.Config
	// Hooks configures the on-publish hooks; pubsub dev allows http://
	// hooks on loopback and private addresses.
	Hooks node.HookConfig
	// Nodes is the number of broker nodes (default 1). Node k listens on
	// the addresses above with 10·(k−1) added to each port, and keeps its
	// state in DataDir/node-k.
	Nodes int
	// NATSAddr is where the embedded NATS server, which joins the nodes,
	// listens; default 127.0.0.1 on a port the system picks.
	NATSAddr string
	// NATSURL, when set, joins the nodes through these NATS servers
	// instead of an embedded one.
	NATSURL string
	Log     *slog.Logger
}

// Dev is a running dev stack.
type Dev struct {
	ControlPlane *ControlPlane
	Node         *Node          // the first node
	Nodes        []*Node        // every node, the first one first
	NATS         *server.Server // the embedded NATS server; nil with DevConfig.NATSURL
	NATSURL      string         // the NATS servers the nodes use
	CA           *certs.DevCA
	// EnvFile is the path of the shell file with the dev credentials.
	EnvFile string
	// Env holds the variables written to EnvFile.
	Env map[string]string
}

// DevEnvFile is the name of the shell file `pubsub dev` writes in its data dir.
const DevEnvFile = "env"

// kekFile holds the dev stack's key-encryption key.
const kekFile = "kek"

// StartDev starts the dev stack. Its first start creates the data dir, a
// key-encryption key, a dev account and the env file; later starts reuse them.
func StartDev(ctx context.Context, cfg DevConfig) (*Dev, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = ".pubsub"
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.Email == "" {
		cfg.Email = "dev@example.com"
	}
	if len(cfg.MQTTAddrs) == 0 {
		cfg.MQTTAddrs = []string{"127.0.0.1:8883", "127.0.0.1:8443"}
	}
	if len(cfg.HTTPSAddrs) == 0 {
		cfg.HTTPSAddrs = []string{"127.0.0.1:8884"}
	}
	if cfg.OpsAddr == "" {
		cfg.OpsAddr = "127.0.0.1:9090"
	}
	if cfg.NATSAddr == "" {
		cfg.NATSAddr = "127.0.0.1:0"
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = 1
	}
	if cfg.Nodes < 1 || cfg.Nodes > 100 {
		return nil, fmt.Errorf("--nodes %d: run between 1 and 100 nodes", cfg.Nodes)
	}
	cfg.Edge.ExamplePage = true
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	kek, err := loadOrCreateKEK(filepath.Join(cfg.DataDir, kekFile))
	if err != nil {
		return nil, err
	}
	storeCfg := StoreConfig{DataDir: cfg.DataDir}
	nodeToken, err := ensureNodeToken(ctx, storeCfg, filepath.Join(cfg.DataDir, nodeTokenFile))
	if err != nil {
		return nil, err
	}
	ca, err := certs.OpenDevCA(filepath.Join(cfg.DataDir, "ca"))
	if err != nil {
		return nil, err
	}
	// Bind the API first: the node needs its URL, and the API shows the
	// node's MQTT port in broker endpoints.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	d := &Dev{CA: ca, EnvFile: filepath.Join(cfg.DataDir, DevEnvFile), NATSURL: cfg.NATSURL}
	if d.NATSURL == "" {
		ns, err := startEmbeddedNATS(cfg.DataDir, cfg.NATSAddr)
		if err != nil {
			ln.Close()
			return nil, err
		}
		d.NATS, d.NATSURL = ns, ns.ClientURL()
	}
	fail := func(err error) (*Dev, error) {
		ln.Close()
		d.closeNodes()
		return nil, err
	}
	for k := 1; k <= cfg.Nodes; k++ {
		nc := NodeConfig{
			ControlPlaneURL: "http://" + ln.Addr().String(), NodeToken: nodeToken, DataDir: cfg.DataDir,
			MQTTAddrs: cfg.MQTTAddrs, HTTPSAddrs: cfg.HTTPSAddrs, OpsAddr: cfg.OpsAddr, Certs: ca, Limits: cfg.Limits, Edge: cfg.Edge, Hooks: cfg.Hooks,
			NATS: &natsbus.Config{URL: d.NATSURL, NodeID: fmt.Sprintf("dev-node-%d", k)}, Log: cfg.Log,
		}
		if k > 1 {
			off := 10 * (k - 1)
			nc.DataDir = filepath.Join(cfg.DataDir, fmt.Sprintf("node-%d", k))
			if nc.MQTTAddrs, err = shiftPorts(cfg.MQTTAddrs, off); err == nil {
				if nc.HTTPSAddrs, err = shiftPorts(cfg.HTTPSAddrs, off); err == nil {
					var ops []string
					ops, err = shiftPorts([]string{cfg.OpsAddr}, off)
					nc.OpsAddr = ops[0]
				}
			}
			if err != nil {
				return fail(err)
			}
			if cfg.Log != nil {
				nc.Log = cfg.Log.With("node", k)
			}
		}
		if err := os.MkdirAll(nc.DataDir, 0o700); err != nil {
			return fail(fmt.Errorf("create node data dir: %w", err))
		}
		nd, err := StartNode(ctx, nc)
		if err != nil {
			return fail(err)
		}
		d.Nodes = append(d.Nodes, nd)
	}
	d.Node = d.Nodes[0]
	cp, err := StartControlPlane(ctx, ControlPlaneConfig{
		Listener: ln, Store: storeCfg, Domain: cfg.Domain, MQTTPort: d.Node.MQTTPort(), KEK: kek, AllowHTTPHooks: cfg.Hooks.AllowHTTP, Log: cfg.Log,
	})
	if err != nil {
		return fail(err)
	}
	d.ControlPlane = cp
	if d.Env, err = d.ensureAccount(ctx, cfg.Email); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// nodeTokenFile holds the dev node's token, so restarts reuse it.
const nodeTokenFile = "node-token"

// ensureNodeToken returns the dev node's token, creating it in the store
// (opened briefly, before the control plane holds it) on the first start.
func ensureNodeToken(ctx context.Context, cfg StoreConfig, path string) (string, error) {
	svc, closeStore, err := OpenAdmin(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer closeStore()
	if raw, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(raw))
		if _, err := svc.AuthenticateNode(ctx, tok); err == nil {
			return tok, nil
		}
	}
	tok, err := svc.CreateNodeToken(ctx, "dev-node-"+controlplane.NewSecret(3))
	if err != nil {
		return "", fmt.Errorf("create the dev node's token: %w", err)
	}
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}

// ensureAccount reuses the account of an existing env file, or creates the
// dev account and writes the env file. PUBSUB_API_URL always follows the
// address actually bound.
func (d *Dev) ensureAccount(ctx context.Context, email string) (map[string]string, error) {
	env, _ := readEnvFile(d.EnvFile)
	if id := env["CF_ACCOUNT_ID"]; id != "" {
		if _, err := d.ControlPlane.Service.AuthenticateKey(ctx, env["CF_API_EMAIL"], env["CF_API_KEY"]); err == nil {
			env["PUBSUB_API_URL"] = d.ControlPlane.URL()
			env["PUBSUB_CA_FILE"] = d.CA.CAFile()
			wranglerEnv(env)
			return env, writeEnvFile(d.EnvFile, env)
		}
	}
	na, err := d.ControlPlane.Service.CreateAccount(ctx, email)
	if controlplane.ErrorCode(err) == controlplane.ECONFLICT {
		// The env file was lost but the account exists: make a fresh one.
		na, err = d.ControlPlane.Service.CreateAccount(ctx, "dev+"+controlplane.NewSecret(4)+"@example.com")
	}
	if err != nil {
		return nil, fmt.Errorf("create dev account: %w", err)
	}
	env = map[string]string{
		"CF_API_EMAIL":   na.Account.Email,
		"CF_API_KEY":     na.APIKey,
		"CF_API_TOKEN":   na.APIToken,
		"CF_ACCOUNT_ID":  na.Account.ID,
		"PUBSUB_API_URL": d.ControlPlane.URL(),
	}
	env["PUBSUB_CA_FILE"] = d.CA.CAFile()
	wranglerEnv(env)
	return env, writeEnvFile(d.EnvFile, env)
}

// wranglerEnv adds wrangler's names of the same credentials and API URL,
// so that wrangler and other Cloudflare tools work after sourcing the file.
func wranglerEnv(env map[string]string) {
	for cf, wr := range map[string]string{
		"CF_API_EMAIL": "CLOUDFLARE_EMAIL", "CF_API_KEY": "CLOUDFLARE_API_KEY", "CF_API_TOKEN": "CLOUDFLARE_API_TOKEN",
		"CF_ACCOUNT_ID": "CLOUDFLARE_ACCOUNT_ID", "PUBSUB_API_URL": "CLOUDFLARE_API_BASE_URL",
	} {
		env[wr] = env[cf]
	}
}

// Close stops the dev stack: the nodes first, so clients get DISCONNECT
// 0x8B, then the control plane and NATS.
func (d *Dev) Close() error {
	d.closeNodes()
	return d.ControlPlane.Close()
}

// closeNodes stops the nodes, then the embedded NATS server.
func (d *Dev) closeNodes() {
	var wg sync.WaitGroup
	for _, n := range d.Nodes {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
	if d.NATS != nil {
		d.NATS.Shutdown()
		d.NATS.WaitForShutdown()
	}
}

// shiftPorts adds off to the port of each address; port 0 stays 0, for
// the system to pick.
func shiftPorts(addrs []string, off int) ([]string, error) {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", a, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p+off > 65535 {
			return nil, fmt.Errorf("address %q: cannot add %d to its port", a, off)
		}
		if p > 0 {
			p += off
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

// envOrder is the order of variables in the env file.
var envOrder = []string{"CF_API_EMAIL", "CF_API_KEY", "CF_API_TOKEN", "CF_ACCOUNT_ID", "PUBSUB_API_URL", "PUBSUB_CA_FILE",
	"CLOUDFLARE_EMAIL", "CLOUDFLARE_API_KEY", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_BASE_URL"}

func writeEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString("# Written by `pubsub dev`: source it to use the dev stack with curl or the CLI.\n")
	for _, k := range envOrder {
		if v, ok := env[k]; ok {
			fmt.Fprintf(&b, "export %s=%q\n", k, v)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return map[string]string{}, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		env[k] = strings.Trim(v, `"`)
	}
	return env, sc.Err()
}

func loadOrCreateKEK(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return controlplane.ParseKEK(string(b))
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	k := controlplane.NewKEK()
	if err := os.WriteFile(path, []byte(k+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write key-encryption key: %w", err)
	}
	return controlplane.ParseKEK(k)
}
