package main

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/openpubsub/pubsub/broker/node"
	"github.com/openpubsub/pubsub/broker/onpublish"
)

// hookFlags registers the flags of the brokers' on-publish hooks;
// allowHTTP is --hook-allow-http's default (on in pubsub dev).
func hookFlags(s *settings, allowHTTP bool) func() (node.HookConfig, error) {
	allow := s.Bool("hook-allow-http", "PUBSUB_HOOK_ALLOW_HTTP", allowHTTP, "allow http:// on-publish hook URLs that resolve to loopback or private addresses; https:// is always allowed")
	caFile := s.String("hook-ca", "PUBSUB_HOOK_CA", "", "PEM file of CA certificates that https:// hooks may also chain to, besides the system's roots")
	inFlight := s.IntRange("hook-max-inflight", "PUBSUB_HOOK_MAX_INFLIGHT", onpublish.DefaultMaxInFlight, 1, 1024, "on-publish hook requests in flight per broker; beyond, the broker's publishers wait")
	batch := s.IntRange("hook-max-batch", "PUBSUB_HOOK_MAX_BATCH", onpublish.DefaultMaxBatch, 1, 10_000, "most messages in one on-publish hook request")
	return func() (node.HookConfig, error) {
		cfg := node.HookConfig{AllowHTTP: *allow, MaxInFlight: *inFlight, MaxBatch: *batch}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				return cfg, fmt.Errorf("--hook-ca: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("--hook-ca: %s holds no PEM certificate", *caFile)
			}
			cfg.RootCAs = pool
		}
		return cfg, nil
	}
}
