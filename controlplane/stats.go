package controlplane

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// StatsSamples is how many reports of a broker's counters the control
// plane keeps per node: 5 minutes at the nodes' default 2 s interval.
const StatsSamples = 150

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

// series is one broker's samples on one node; it keeps the last
// StatsSamples, compacting when it has twice that many.
type series []StatSample

func (s series) add(x StatSample) series {
	if len(s) >= 2*StatsSamples {
		s = append(s[:0:0], s[len(s)-StatsSamples+1:]...)
	}
	return append(s, x)
}

func (s series) last() []StatSample {
	return slices.Clone(s[max(0, len(s)-StatsSamples):])
}

// addStats records a report's counters; the caller holds the registry's
// lock. A broker the node no longer runs keeps its history until the
// node goes stale.
func (n *nodeClients) addStats(at time.Time, stats []clients.BrokerStats) {
	if n.stats == nil {
		n.stats = map[string]series{}
	}
	for _, st := range stats {
		n.stats[st.BrokerID] = n.stats[st.BrokerID].add(StatSample{At: at, BrokerStats: st})
	}
}

// BrokerStats returns the recent counters of a broker on every node whose
// report is fresh, sorted by node. Returns ENOTFOUND.
func (s *Service) BrokerStats(ctx context.Context, accountID, namespace, name string) ([]NodeStats, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []NodeStats
	x := &s.clients
	x.mu.Lock()
	for nodeName, n := range x.nodes {
		if ser := n.stats[b.ID]; n.fresh(now) && len(ser) > 0 {
			out = append(out, NodeStats{Node: nodeName, Samples: ser.last()})
		}
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeStats) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}
