package main

import (
	"context"
	"io"
	"time"

	"github.com/openpubsub/pubsub/internal/app"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// runBrokerNode runs a broker node: MQTT v5 over TLS for every broker the
// control plane's feed lists, from its disk cache while the control plane
// is down.
func runBrokerNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("broker serve", stderr)
	cpURL := fs.String("control-plane", envOr("PUBSUB_CONTROL_PLANE_URL", ""), "control plane base URL, e.g. https://cp.example.com (PUBSUB_CONTROL_PLANE_URL)")
	token := fs.String("node-token", envOr("PUBSUB_NODE_TOKEN", ""), "node token from `pubsub node token create` (PUBSUB_NODE_TOKEN)")
	dataDir := fs.String("data-dir", envOr("PUBSUB_DATA_DIR", ".pubsub-node"), "where the node caches its config and keeps retained messages (PUBSUB_DATA_DIR)")
	mqttAddrs := addrListFlag(fs, "mqtt-addr", "PUBSUB_MQTT_ADDRS", ":8883,:8443", "MQTT over TLS listen address, repeatable")
	httpsAddrs := addrListFlag(fs, "https-addr", "PUBSUB_HTTPS_ADDRS", ":8884", "HTTPS listen address (SSE, HTTP publish, MQTT over WebSocket), repeatable; :443 in production")
	opsAddr := fs.String("ops-addr", envOr("PUBSUB_OPS_ADDR", "127.0.0.1:9090"), "/metrics, /healthz and /readyz; keep it private (PUBSUB_OPS_ADDR)")
	certDir := fs.String("cert-dir", envOr("PUBSUB_CERT_DIR", ""), "directory of certificate/key pairs, *.<namespace>.<domain> or exact names; reloaded on change (PUBSUB_CERT_DIR)")
	defaultCert := fs.String("default-cert", envOr("PUBSUB_DEFAULT_CERT", ""), "hostname whose certificate clients without SNI get (PUBSUB_DEFAULT_CERT)")
	clientsInterval := fs.Duration("clients-interval", envDuration("PUBSUB_CLIENTS_INTERVAL", clients.DefaultInterval), "how often the node reports its connected clients and counters to the control plane, 10ms to 10m (PUBSUB_CLIENTS_INTERVAL)")
	limits := limitFlags(fs)
	edgeCfg := edgeFlags(fs)
	hooks := hookFlags(fs, false)
	natsCfg := natsFlags(fs)
	logger := logFlags(fs, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpURL == "" || *token == "" || *certDir == "" {
		return usageError{"pubsub broker serve needs --control-plane, --node-token and --cert-dir (or their PUBSUB_ variables)"}
	}
	if *clientsInterval < 10*time.Millisecond || *clientsInterval > 10*time.Minute {
		return usageError{"--clients-interval must be from 10ms to 10m, got " + clientsInterval.String()}
	}
	log := logger()
	hookCfg, err := hooks()
	if err != nil {
		return err
	}
	n, err := app.StartNode(ctx, app.NodeConfig{
		ControlPlaneURL: *cpURL, NodeToken: *token, DataDir: *dataDir, MQTTAddrs: mqttAddrs.list(), HTTPSAddrs: httpsAddrs.list(), OpsAddr: *opsAddr,
		CertDir: *certDir, DefaultCert: *defaultCert, Limits: limits(), Edge: edgeCfg(), Hooks: hookCfg, ClientsInterval: *clientsInterval, NATS: natsCfg(), Log: log,
	})
	if err != nil {
		return err
	}
	defer n.Close()
	<-ctx.Done()
	return nil
}
