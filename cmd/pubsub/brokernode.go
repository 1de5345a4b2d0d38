package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// brokerServeCmd runs a broker node: MQTT v5 over TLS for every broker the
// control plane's feed lists, from its disk cache while the control plane
// is down.
func brokerServeCmd(stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker node: MQTT v5 over TLS, SSE, HTTP publish and WebSocket",
		Long: `serve runs a broker node. It follows the control plane's config feed with its
node token (from ` + "`pubsub node token create`" + `), serves every broker with the
certificates in --cert-dir, and keeps serving from its disk cache while the
control plane is down.`,
		Example: `  pubsub broker serve --control-plane https://cp.example.com --node-token psn_... \
    --cert-dir /etc/pubsub/certs --data-dir /var/lib/pubsub-node
  PUBSUB_CONTROL_PLANE_URL=https://cp.example.com PUBSUB_NODE_TOKEN=psn_... \
    PUBSUB_CERT_DIR=/etc/pubsub/certs pubsub broker serve`,
		Args: exactArgs(),
	}
	s := newSettings(c.Flags())
	cpURL := s.String("control-plane", "PUBSUB_CONTROL_PLANE_URL", "", "control plane base URL, e.g. https://cp.example.com")
	token := s.String("node-token", "PUBSUB_NODE_TOKEN", "", "the node's `TOKEN`, from 'pubsub node token create'")
	tokenFile := s.String("node-token-file", "PUBSUB_NODE_TOKEN_FILE", "", "a `FILE` holding the node's token (from 'pubsub node token create --out'), instead of --node-token")
	dataDir := s.String("data-dir", "PUBSUB_DATA_DIR", ".pubsub-node", "where the node caches its config and keeps retained messages")
	mqttAddrs := s.Addrs("mqtt-addr", "PUBSUB_MQTT_ADDRS", ":8883,:8443", "MQTT over TLS listen address, repeatable")
	httpsAddrs := s.Addrs("https-addr", "PUBSUB_HTTPS_ADDRS", ":8884", "HTTPS listen address (SSE, HTTP publish, MQTT over WebSocket), repeatable; :443 in production")
	opsAddr := s.String("ops-addr", "PUBSUB_OPS_ADDR", "127.0.0.1:9090", "/metrics, /healthz and /readyz; keep it private")
	certDir := s.String("cert-dir", "PUBSUB_CERT_DIR", "", "directory of certificate/key pairs, *.<namespace>.<domain> or exact names; reloaded on change")
	defaultCert := s.String("default-cert", "PUBSUB_DEFAULT_CERT", "", "hostname whose certificate clients without SNI get")
	clientsInterval := s.DurationRange("clients-interval", "PUBSUB_CLIENTS_INTERVAL", clients.DefaultInterval, 10*time.Millisecond, 10*time.Minute, "how often the node reports its connected clients and counters to the control plane")
	limits := limitFlags(s)
	edgeCfg := edgeFlags(s)
	natsCfg := natsFlags(s)
	hooks := hookFlags(s, false)
	logger := logFlags(s, stderr)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := s.err(); err != nil {
			return err
		}
		if *tokenFile != "" {
			if *token != "" {
				return usageError{"give --node-token or --node-token-file, not both"}
			}
			b, err := os.ReadFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("--node-token-file: %w", err)
			}
			if *token = strings.TrimSpace(string(b)); *token == "" {
				return fmt.Errorf("--node-token-file: %s is empty; write a token into it with 'pubsub node token create --out %s'", *tokenFile, *tokenFile)
			}
		}
		if *cpURL == "" || *token == "" || *certDir == "" {
			return usageError{"pubsub broker serve needs --control-plane, --node-token (or --node-token-file) and --cert-dir (or their PUBSUB_ variables)"}
		}
		hookCfg, err := hooks()
		if err != nil {
			return err
		}
		ctx := c.Context()
		log := logger()
		n, err := app.StartNode(ctx, app.NodeConfig{
			ControlPlaneURL: *cpURL, NodeToken: *token, DataDir: *dataDir, MQTTAddrs: *mqttAddrs, HTTPSAddrs: *httpsAddrs, OpsAddr: *opsAddr,
			CertDir: *certDir, DefaultCert: *defaultCert, Limits: limits(), Edge: edgeCfg(), NATS: natsCfg(), Hooks: hookCfg, ClientsInterval: *clientsInterval, Log: log,
		})
		if err != nil {
			return err
		}
		defer n.Close()
		<-ctx.Done()
		return nil
	}
	return c
}
