package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

// logFlags adds --log-level and returns a function that builds the logger.
func logFlags(fs *flag.FlagSet, stderr io.Writer) func() *slog.Logger {
	level := fs.String("log-level", envOr("PUBSUB_LOG_LEVEL", "info"), "log level: debug, info, warn or error (PUBSUB_LOG_LEVEL)")
	return func() *slog.Logger {
		var l slog.Level
		if err := l.UnmarshalText([]byte(*level)); err != nil {
			l = slog.LevelInfo
		}
		return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l}))
	}
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stderr)
	dataDir := fs.String("data-dir", envOr("PUBSUB_DATA_DIR", ".pubsub"), "directory for the embedded store, keys and the env file (PUBSUB_DATA_DIR)")
	addr := fs.String("addr", envOr("PUBSUB_ADDR", "127.0.0.1:8080"), "REST API listen address (PUBSUB_ADDR)")
	domain := fs.String("domain", envOr("PUBSUB_DOMAIN", "pubsub.localhost"), "broker hostnames are <broker>.<namespace>.<domain> (PUBSUB_DOMAIN)")
	mqttAddrs := addrListFlag(fs, "mqtt-addr", "PUBSUB_MQTT_ADDRS", "127.0.0.1:8883,127.0.0.1:8443", "MQTT over TLS listen address, repeatable; the first is the endpoint's port")
	httpsAddrs := addrListFlag(fs, "https-addr", "PUBSUB_HTTPS_ADDRS", "127.0.0.1:8884", "HTTPS listen address (SSE, HTTP publish, MQTT over WebSocket, the example page), repeatable")
	opsAddr := fs.String("ops-addr", envOr("PUBSUB_OPS_ADDR", "127.0.0.1:9090"), "the node's /metrics, /healthz and /readyz (PUBSUB_OPS_ADDR)")
	nodes := fs.Int("nodes", envInt("PUBSUB_DEV_NODES", 1), "broker nodes to run, joined by the embedded NATS; node k adds 10·(k−1) to each port (PUBSUB_DEV_NODES)")
	natsListen := fs.String("nats-listen", envOr("PUBSUB_NATS_LISTEN", "127.0.0.1:4222"), "where the embedded NATS server (JetStream in <data-dir>/nats) listens (PUBSUB_NATS_LISTEN)")
	natsURL := fs.String("nats-url", envOr("PUBSUB_NATS_URL", ""), "NATS servers to join the nodes through instead of the embedded one (PUBSUB_NATS_URL)")
	limits := limitFlags(fs)
	edgeCfg := edgeFlags(fs)
	hooks := hookFlags(fs, true) // a hook on the developer's machine is plain HTTP
	logger := logFlags(fs, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	hookCfg, err := hooks()
	if err != nil {
		return err
	}
	d, err := app.StartDev(ctx, app.DevConfig{
		DataDir: *dataDir, Addr: *addr, MQTTAddrs: mqttAddrs.list(), HTTPSAddrs: httpsAddrs.list(), OpsAddr: *opsAddr, Domain: *domain,
		Nodes: *nodes, NATSAddr: *natsListen, NATSURL: *natsURL, Limits: limits(), Edge: edgeCfg(), Hooks: hookCfg, Log: logger(),
	})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, `Pub/Sub dev stack is running.
  REST API:  %s
  Console:   http://%s/console/ (sign in with CF_ACCOUNT_ID and CF_API_TOKEN from the env file)
  MQTT:      mqtts://<broker>.<namespace>.%s on %s (CA: %s)
  HTTPS:     SSE, HTTP publish and MQTT over WebSocket on %s
  Example:   https://<broker>.<namespace>.%s:%d/ (a page that subscribes and publishes; paste a token)
  Metrics:   http://%s/metrics
  Data dir:  %s (delete it to start over)

Load the dev credentials, then create your first namespace:

  source %s
  curl -s -H "X-Auth-Email: ${CF_API_EMAIL}" -H "X-Auth-Key: ${CF_API_KEY}" -H "Content-Type: application/json" "${PUBSUB_API_URL}/accounts/${CF_ACCOUNT_ID}/pubsub/namespaces" --data '{"name": "my-namespace" }'

Press Ctrl-C to stop.
`, d.ControlPlane.URL(), d.ControlPlane.Addr(), *domain, addrString(d.Node.MQTTAddrs()), d.CA.CAFile(), addrString(d.Node.HTTPSAddrs()), *domain, d.Node.HTTPSPort(), d.Node.OpsAddr(), *dataDir, d.EnvFile)
	if d.NATS != nil {
		fmt.Fprintf(stdout, "\nNATS (embedded, JetStream in %s/%s): %s\n", *dataDir, app.NATSDir, d.NATSURL)
	} else {
		fmt.Fprintf(stdout, "\nNATS: %s\n", d.NATSURL)
	}
	for k, n := range d.Nodes {
		fmt.Fprintf(stdout, "  node %d: MQTT %s, HTTPS %s, ops http://%s\n", k+1, addrString(n.MQTTAddrs()), addrString(n.HTTPSAddrs()), n.OpsAddr())
	}
	<-ctx.Done()
	return nil
}

func runControlPlane(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("controlplane", stderr)
	addr := fs.String("addr", envOr("PUBSUB_ADDR", ":8080"), "REST API listen address (PUBSUB_ADDR)")
	store := storeFlags(fs)
	domain := fs.String("domain", envOr("PUBSUB_DOMAIN", ""), "broker hostnames are <broker>.<namespace>.<domain> (PUBSUB_DOMAIN)")
	mqttPort := fs.Int("mqtt-port", envInt("PUBSUB_MQTT_PORT", 8883), "MQTT over TLS port shown in broker endpoints (PUBSUB_MQTT_PORT)")
	revLimit := fs.Int("revocation-limit", envInt("PUBSUB_REVOCATION_LIMIT", controlplane.DefaultRevocationLimit), "maximum unexpired revocations per broker (PUBSUB_REVOCATION_LIMIT)")
	hookHTTP := fs.Bool("hook-allow-http", os.Getenv("PUBSUB_HOOK_ALLOW_HTTP") == "true" || os.Getenv("PUBSUB_HOOK_ALLOW_HTTP") == "1", "let `pubsub broker hook-test` call http:// hooks on loopback and private addresses (PUBSUB_HOOK_ALLOW_HTTP)")
	selfSignedLeeway := fs.Int("self-signed-leeway", envInt("PUBSUB_SELF_SIGNED_LEEWAY", 900), "clock tolerance in seconds on self-signed (fastly-style) tokens' exp, nbf and iat, 0 to 86400 (PUBSUB_SELF_SIGNED_LEEWAY)")
	logger := logFlags(fs, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	kek, err := controlplane.ParseKEK(os.Getenv("PUBSUB_KEK"))
	if err != nil {
		return fmt.Errorf("PUBSUB_KEK: %w (generate one with: openssl rand -hex 32)", err)
	}
	log := logger()
	cp, err := app.StartControlPlane(ctx, app.ControlPlaneConfig{Addr: *addr, Store: store(), Domain: *domain, MQTTPort: *mqttPort, KEK: kek, RevocationLimit: *revLimit, SelfSignedLeeway: time.Duration(*selfSignedLeeway) * time.Second, AllowHTTPHooks: *hookHTTP, Log: log})
	if err != nil {
		return err
	}
	defer cp.Close()
	log.Info("control plane listening", "url", cp.URL())
	<-ctx.Done()
	return nil
}

// storeFlags adds --database-url and --data-dir.
func storeFlags(fs *flag.FlagSet) func() app.StoreConfig {
	url := fs.String("database-url", envOr("PUBSUB_DATABASE_URL", ""), "Postgres URL; empty for the embedded store (PUBSUB_DATABASE_URL)")
	dir := fs.String("data-dir", envOr("PUBSUB_DATA_DIR", ".pubsub"), "data dir of the embedded store (PUBSUB_DATA_DIR)")
	return func() app.StoreConfig { return app.StoreConfig{DatabaseURL: *url, DataDir: *dir} }
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
