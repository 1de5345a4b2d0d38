package controlplane

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openpubsub/pubsub/pkg/clients"
)

// ConnectedClient is one client connected to a broker on one node, as
// that node last reported it.
type ConnectedClient struct {
	clients.Client
	Node string // the name of the node's token
}

// MaxPendingDisconnects bounds the disconnections queued for one node
// between two of its reports; more are refused until it reports again.
const MaxPendingDisconnects = 1000

// clientRegistry holds the last report of each node, in memory: nodes
// report every few seconds, so a restarted control plane knows every
// connected client again within one interval. Its zero value is ready.
type clientRegistry struct {
	mu    sync.Mutex
	nodes map[string]*nodeClients // by node name
}

// nodeClients is one node's last report.
type nodeClients struct {
	at       time.Time // when it arrived, on the control plane's clock
	validFor time.Duration
	byBroker map[string][]clients.Client
	pending  []clients.Target
	stats    map[string]series // by broker id (stats.go)
}

func (n *nodeClients) fresh(now time.Time) bool { return now.Sub(n.at) <= n.validFor }

// ReportClients records a node's report of its connected clients,
// replacing its previous one, adds its brokers' counters to their
// history, and returns the disconnections requested
// for that node since. Returns EINVALID for an interval out of range.
func (s *Service) ReportClients(node *NodeToken, r *clients.Report) (clients.Answer, error) {
	interval := time.Duration(r.IntervalMS) * time.Millisecond
	if interval < 10*time.Millisecond || interval > 10*time.Minute {
		return clients.Answer{}, Errorf(EINVALID, "interval_ms must be from 10 to 600000, got %d", r.IntervalMS)
	}
	by := map[string][]clients.Client{}
	for _, c := range r.Clients {
		by[c.BrokerID] = append(by[c.BrokerID], c)
	}
	x := &s.clients
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.nodes == nil {
		x.nodes = map[string]*nodeClients{}
	}
	nc := &nodeClients{at: s.now(), validFor: clients.StaleAfter * interval, byBroker: by}
	var pending []clients.Target
	if old := x.nodes[node.Name]; old != nil {
		pending, nc.stats = old.pending, old.stats
	}
	nc.addStats(nc.at, r.Brokers)
	x.nodes[node.Name] = nc
	return clients.Answer{Disconnect: pending}, nil
}

// ListClients returns the clients connected to a broker on every node
// whose report is fresh, sorted by client id then node, those whose
// client id, jti, remote address or node contains search (case
// insensitive) when search is not empty. Returns ENOTFOUND.
func (s *Service) ListClients(ctx context.Context, accountID, namespace, name, search string, p Page) ([]*ConnectedClient, int, error) {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return nil, 0, err
	}
	// A report's slices are never changed, only replaced: take them under
	// the lock, and read them after.
	type nodeList struct {
		node string
		list []clients.Client
	}
	var lists []nodeList
	now := s.now()
	x := &s.clients
	x.mu.Lock()
	for nodeName, n := range x.nodes {
		if n.fresh(now) && len(n.byBroker[b.ID]) > 0 {
			lists = append(lists, nodeList{nodeName, n.byBroker[b.ID]})
		}
	}
	x.mu.Unlock()
	var all []*ConnectedClient
	for _, nl := range lists {
		for _, c := range nl.list {
			all = append(all, &ConnectedClient{Client: c, Node: nl.node})
		}
	}
	if search = strings.ToLower(search); search != "" {
		all = slices.DeleteFunc(all, func(c *ConnectedClient) bool {
			for _, f := range []string{c.ClientID, c.JTI, c.Remote, c.Node} {
				if strings.Contains(strings.ToLower(f), search) {
					return false
				}
			}
			return true
		})
	}
	slices.SortFunc(all, func(a, b *ConnectedClient) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Node, b.Node)
	})
	total := len(all)
	lo := min(p.Offset(), total)
	hi := min(lo+p.PerPage, total)
	return all[lo:hi], total, nil
}

// DisconnectClient asks every node that reported clientID connected to
// the broker over MQTT to disconnect it (DISCONNECT 0x98), at its next
// report. Returns ENOTFOUND (no such broker, or no such client
// connected), EINVALID when the client has only SSE streams, or
// ETOOLARGE when a node has MaxPendingDisconnects queued already.
func (s *Service) DisconnectClient(ctx context.Context, accountID, namespace, name, clientID string) error {
	b, err := s.FindBroker(ctx, accountID, namespace, name)
	if err != nil {
		return err
	}
	now := s.now()
	x := &s.clients
	x.mu.Lock()
	defer x.mu.Unlock()
	found, streams := false, false
	for nodeName, n := range x.nodes {
		if !n.fresh(now) {
			continue
		}
		streams = streams || slices.ContainsFunc(n.byBroker[b.ID], func(c clients.Client) bool { return c.ClientID == clientID && c.Transport == clients.TransportSSE })
		if !slices.ContainsFunc(n.byBroker[b.ID], func(c clients.Client) bool { return c.ClientID == clientID && c.Transport != clients.TransportSSE }) {
			continue
		}
		if len(n.pending) >= MaxPendingDisconnects {
			return Errorf(ETOOLARGE, "node %s has %d disconnections pending already; retry in a few seconds", nodeName, len(n.pending))
		}
		n.pending = append(n.pending, clients.Target{BrokerID: b.ID, ClientID: clientID})
		found = true
	}
	if !found && streams {
		return Errorf(EINVALID, "client %q has only SSE streams, which a disconnection does not end; revoke its token (jti) instead", truncateID(clientID))
	}
	if !found {
		return Errorf(ENOTFOUND, "client %q is not connected to broker %q on any node that reported in the last seconds", truncateID(clientID), b.Name)
	}
	return nil
}

func truncateID(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
