// Package deploy holds what operators deploy next to Pub/Sub: the
// Prometheus alert rules and example configuration (prometheus/), and the
// Grafana dashboard (grafana/). Its test checks every metric they name
// against a live node's and control plane's /metrics.
package deploy
