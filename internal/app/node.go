package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/broker"
	"github.com/openpubsub/pubsub/broker/certs"
	"github.com/openpubsub/pubsub/broker/edge"
	"github.com/openpubsub/pubsub/broker/fleet"
	"github.com/openpubsub/pubsub/broker/natsbus"
	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// NodeConfig configures a broker node process.
type NodeConfig struct {
	ControlPlaneURL string // base URL of the control plane, e.g. http://127.0.0.1:8080
	NodeToken       string // from `pubsub node token create`
	DataDir         string // holds the config cache and the retained messages
	MQTTAddrs       []string
	HTTPSAddrs      []string // SSE, HTTP publish, MQTT over WebSocket
	OpsAddr         string
	// CertDir is a directory of certificate/key pairs, reloaded on change.
	// Ignored when Certs is set.
	CertDir string
	// DefaultCert names the certificate for clients that send no SNI.
	DefaultCert string
	// Certs, when set, provides the certificates (the dev stack's CA).
	Certs  node.CertSource
	Limits node.Limits
	// Edge configures SSE, HTTP publish and WebSocket.
	Edge edge.Config
	// ClientsInterval is how often the node reports its connected clients
	// to the control plane (pkg/clients); 0 means clients.DefaultInterval.
	ClientsInterval time.Duration
	// Hooks configures the brokers' on-publish hooks.
	Hooks node.HookConfig
	// NATS, when set, joins the node to a fleet over NATS.
	NATS *natsbus.Config
	Log  *slog.Logger
}

// ConfigCacheFile is the node's config cache inside its data dir.
const ConfigCacheFile = "node-config.json"

// Node is a running broker node following the control plane's feed.
type Node struct {
	*node.Node
	cancel    context.CancelFunc
	done      chan struct{}
	closers   []func() error
	closeOnce sync.Once
}

// StartNode binds the node's listeners (errors return at once), then follows
// the config feed in the background, serving from the disk cache meanwhile.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("a data dir is required for the node's config cache (--data-dir)")
	}
	src, err := fleet.New(fleet.Config{URL: cfg.ControlPlaneURL, Token: cfg.NodeToken, CacheFile: filepath.Join(cfg.DataDir, ConfigCacheFile), Log: cfg.Log})
	if err != nil {
		return nil, err
	}
	n := &Node{done: make(chan struct{})}
	certSrc := cfg.Certs
	if certSrc == nil {
		if cfg.CertDir == "" {
			return nil, fmt.Errorf("a certificate directory is required (--cert-dir)")
		}
		dir, err := certs.OpenDir(cfg.CertDir, cfg.Log)
		if err != nil {
			return nil, err
		}
		if cfg.DefaultCert != "" {
			if err := dir.SetDefault(cfg.DefaultCert); err != nil {
				dir.Close()
				return nil, err
			}
		}
		certSrc, n.closers = dir, append(n.closers, dir.Close)
	}
	nd, err := node.New(node.Config{
		MQTTAddrs: cfg.MQTTAddrs, HTTPSAddrs: cfg.HTTPSAddrs, OpsAddr: cfg.OpsAddr, DataDir: cfg.DataDir,
		Certs: certSrc, Logger: cfg.Log, Limits: cfg.Limits, Edge: withKeys(cfg.Edge, src), Hooks: cfg.Hooks, NATS: cfg.NATS,
	})
	if err != nil {
		n.closeAll()
		return nil, err
	}
	if err := nd.Start(ctx); err != nil {
		n.closeAll()
		return nil, err
	}
	n.Node = nd
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	interval := cfg.ClientsInterval
	if interval <= 0 {
		interval = clients.DefaultInterval
	}
	reporting := make(chan struct{})
	go func() {
		defer close(reporting)
		nd.ReportClients(runCtx, strings.TrimSuffix(cfg.ControlPlaneURL, "/"), cfg.NodeToken, interval)
	}()
	go func() {
		defer close(n.done)
		defer func() { <-reporting }()
		if err := nd.Run(runCtx, src); err != nil && runCtx.Err() == nil {
			cfg.Log.Error("config feed stopped", "err", err)
		}
	}()
	return n, nil
}

// MQTTPort returns the port of the first MQTT listener.
func (n *Node) MQTTPort() int {
	_, port, _ := net.SplitHostPort(n.MQTTAddrs()[0].String())
	p, _ := strconv.Atoi(port)
	return p
}

// HTTPSPort returns the port of the first HTTPS listener.
func (n *Node) HTTPSPort() int {
	_, port, _ := net.SplitHostPort(n.HTTPSAddrs()[0].String())
	p, _ := strconv.Atoi(port)
	return p
}

// Close stops following the feed and closes the node. It is safe to call
// more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.Node.Close()
		<-n.done
		n.closeAll()
	})
	return nil
}

func (n *Node) closeAll() {
	for _, c := range n.closers {
		_ = c()
	}
}

// withKeys lets the edge's POST /admin/keys forward to the control plane
// through the fleet client, unless the caller set another KeyIssuer.
func withKeys(c edge.Config, k broker.KeyIssuer) edge.Config {
	if c.Keys == nil {
		c.Keys = k
	}
	return c
}
