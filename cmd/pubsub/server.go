package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/internal/app"
)

func devCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run the control plane and a broker node on loopback, with an embedded store",
		Long: `dev runs the whole service on loopback: the control plane with its embedded
store in --data-dir, and one broker node served with a throwaway local CA.
It writes <data-dir>/env: source it to use the CLI, curl or wrangler.`,
		Example: `  pubsub dev
  pubsub dev --addr 127.0.0.1:9080 --data-dir /tmp/pubsub
  PUBSUB_LOG_FORMAT=json pubsub dev`,
		Args: exactArgs(),
	}
	s := newSettings(c.Flags())
	dataDir := s.String("data-dir", "PUBSUB_DATA_DIR", ".pubsub", "directory for the embedded store, keys and the env file")
	addr := s.String("addr", "PUBSUB_ADDR", "127.0.0.1:8080", "REST API listen address")
	domain := s.String("domain", "PUBSUB_DOMAIN", "pubsub.localhost", "broker hostnames are <broker>.<namespace>.<domain>")
	mqttAddrs := s.Addrs("mqtt-addr", "PUBSUB_MQTT_ADDRS", "127.0.0.1:8883,127.0.0.1:8443", "MQTT over TLS listen address, repeatable; the first is the endpoint's port")
	httpsAddrs := s.Addrs("https-addr", "PUBSUB_HTTPS_ADDRS", "127.0.0.1:8884", "HTTPS listen address (SSE, HTTP publish, MQTT over WebSocket, the example page), repeatable")
	opsAddr := s.String("ops-addr", "PUBSUB_OPS_ADDR", "127.0.0.1:9090", "the node's /metrics, /healthz and /readyz")
	nodes := s.IntRange("nodes", "PUBSUB_DEV_NODES", 1, 1, 100, "broker nodes to run, joined by the embedded NATS; node k adds 10·(k−1) to each port")
	natsListen := s.String("nats-listen", "PUBSUB_NATS_LISTEN", "127.0.0.1:4222", "where the embedded NATS server (JetStream in <data-dir>/nats) listens")
	natsURL := s.String("nats-url", "PUBSUB_NATS_URL", "", "NATS servers to join the nodes through instead of the embedded one")
	limits := limitFlags(s)
	edgeCfg := edgeFlags(s)
	hooks := hookFlags(s, true) // a hook on the developer's machine is plain HTTP
	logger := logFlags(s, stderr)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		hookCfg, err := hooks()
		if err != nil {
			return err
		}
		ctx := c.Context()
		d, err := app.StartDev(ctx, app.DevConfig{
			DataDir: *dataDir, Addr: *addr, MQTTAddrs: *mqttAddrs, HTTPSAddrs: *httpsAddrs, OpsAddr: *opsAddr, Domain: *domain,
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
	return c
}

func controlPlaneCmd(stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "controlplane",
		Short: "Run the control plane: the REST API and the nodes' config feed",
		Long: `controlplane serves the Cloudflare-compatible REST API and the config feed of
the broker nodes, on Postgres (--database-url) or the embedded store.
PUBSUB_KEK (64 hex characters) is required: it encrypts the signing keys.`,
		Example: `  export PUBSUB_KEK=$(openssl rand -hex 32)
  pubsub controlplane --database-url postgres://pubsub@db/pubsub --domain pubsub.example.com
  PUBSUB_DOMAIN=pubsub.example.com PUBSUB_LOG_FORMAT=json pubsub controlplane`,
		Args: exactArgs(),
	}
	s := newSettings(c.Flags())
	addr := s.String("addr", "PUBSUB_ADDR", ":8080", "REST API listen address")
	store := storeFlags(s)
	domain := s.String("domain", "PUBSUB_DOMAIN", "", "broker hostnames are <broker>.<namespace>.<domain>")
	mqttPort := s.IntRange("mqtt-port", "PUBSUB_MQTT_PORT", 8883, 1, 65535, "MQTT over TLS port shown in broker endpoints")
	revLimit := s.IntRange("revocation-limit", "PUBSUB_REVOCATION_LIMIT", controlplane.DefaultRevocationLimit, 1, 10_000_000, "maximum unexpired revocations per broker")
	hookHTTP := s.Bool("hook-allow-http", "PUBSUB_HOOK_ALLOW_HTTP", false, "let 'pubsub broker hook-test' call http:// hooks on loopback and private addresses")
	selfSignedLeeway := s.IntRange("self-signed-leeway", "PUBSUB_SELF_SIGNED_LEEWAY", 900, 0, 86400, "clock tolerance in seconds on self-signed (fastly-style) tokens' exp, nbf and iat")
	logger := logFlags(s, stderr)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		kek, err := controlplane.ParseKEK(os.Getenv("PUBSUB_KEK"))
		if err != nil {
			return usageErrorf("PUBSUB_KEK: %v (generate one with: openssl rand -hex 32)", err)
		}
		ctx := c.Context()
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
	return c
}

// storeFlags adds --database-url and --data-dir.
func storeFlags(s *settings) func() app.StoreConfig {
	url := s.String("database-url", "PUBSUB_DATABASE_URL", "", "Postgres URL; empty for the embedded store")
	dir := s.String("data-dir", "PUBSUB_DATA_DIR", ".pubsub", "data dir of the embedded store")
	return func() app.StoreConfig { return app.StoreConfig{DatabaseURL: *url, DataDir: *dir} }
}
