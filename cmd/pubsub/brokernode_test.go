package main

import (
	"context"
	"strings"
	"testing"
)

// TestClientsIntervalFlag refuses a report interval the control plane
// would refuse, before the node starts.
func TestClientsIntervalFlag(t *testing.T) {
	for _, v := range []string{"1ms", "11m"} {
		_, _, err := cli(t, context.Background(), "broker", "serve", "--control-plane", "http://127.0.0.1:1", "--node-token", "psn_x", "--cert-dir", t.TempDir(), "--clients-interval", v)
		if err == nil || !strings.Contains(err.Error(), "--clients-interval must be from 10ms to 10m, got "+v) {
			t.Errorf("%s: %v", v, err)
		}
	}
}
