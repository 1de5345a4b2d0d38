package controlplane

import (
	"context"
	"encoding/json"
	"time"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// StatsSamples is how many reports of a broker's counters the control
// plane returns per node: 5 minutes at the nodes' default 2 s interval.
const StatsSamples = 150

// StatsWindow is how long the store keeps a report's counters.
const StatsWindow = StatsSamples * clients.DefaultInterval

// StatSample is one node's counters of one broker, at the time the
// control plane received them.
type StatSample struct {
	At time.Time
	clients.BrokerStats
}

// NodeStats is the recent history of one broker's counters on one node,
// oldest first.
type NodeStats struct {
	Node    string
	Samples []StatSample
}

// BrokerStats returns the last StatsSamples counters of a broker within
// StatsWindow on every node whose report is fresh, sorted by node; a
// broker the node no longer runs keeps its history until the node goes
// stale. Returns ENOTFOUND.
func (s *Service) BrokerStats(ctx context.Context, accountID, namespace, name string) ([]NodeStats, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	list, err := s.store.ListNodeSamples(ctx, b.ID, now.Add(-StatsWindow), now)
	if err != nil {
		return nil, err
	}
	var out []NodeStats
	for _, x := range list {
		sample := StatSample{At: x.At}
		if err := json.Unmarshal(x.Stats, &sample.BrokerStats); err != nil {
			return nil, Errorf(EINTERNAL, "node %s's stored counters: %v", x.Node, err)
		}
		if len(out) == 0 || out[len(out)-1].Node != x.Node {
			out = append(out, NodeStats{Node: x.Node})
		}
		n := &out[len(out)-1]
		n.Samples = append(n.Samples, sample)
	}
	for i := range out {
		if s := out[i].Samples; len(s) > StatsSamples {
			out[i].Samples = s[len(s)-StatsSamples:]
		}
	}
	return out, nil
}
