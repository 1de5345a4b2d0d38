package controlplane

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
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

// ClientReport is one node's report of its connected clients and its
// brokers' counters, as the store keeps it: in the store, so that every
// control-plane process behind a load balancer sees what a node reported
// to any of them. The service encodes the parts; the stores keep them as
// they are.
type ClientReport struct {
	Node       string
	ReceivedAt time.Time // on the control plane's clock
	ExpiresAt  time.Time // when the node's clients stop counting as connected
	Brokers    []BrokerReport
}

// BrokerReport is one broker's part of a ClientReport.
type BrokerReport struct {
	BrokerID string
	Clients  []byte // the broker's clients, encoded (clientcodec.go); nil when none are connected
	Stats    []byte // the JSON of a clients.BrokerStats; nil when the node sent none
}

// NodeClients are the clients of one broker one node reported.
type NodeClients struct {
	Node    string
	Clients []byte // encoded (clientcodec.go)
}

// NodeSample is one node's counters of one broker, as one report had them.
type NodeSample struct {
	Node  string
	At    time.Time
	Stats []byte // the JSON of a clients.BrokerStats
}

// ClientReportStore keeps the nodes' last clients reports, their
// brokers' recent counters and the disconnections queued for them. Every
// read takes the time that decides what has expired.
type ClientReportStore interface {
	// PutClientReport replaces r.Node's report with r, adds the
	// counters of r's brokers to their history, and returns the
	// disconnections queued for r.Node, oldest first, which it
	// removes.
	PutClientReport(ctx context.Context, r *ClientReport) ([]clients.Target, error)
	// ListReportedClients returns the clients of broker brokerID on
	// every node whose report has not expired at now, by node name.
	ListReportedClients(ctx context.Context, brokerID string, now time.Time) ([]NodeClients, error)
	// ListNodeSamples returns the counters of broker brokerID taken at
	// or after since, of every node whose report has not expired at
	// now, by node name, then oldest first.
	ListNodeSamples(ctx context.Context, brokerID string, since, now time.Time) ([]NodeSample, error)
	// QueueDisconnect queues t for node's next report, unless node has
	// max disconnections queued already, and returns how many were
	// queued before.
	QueueDisconnect(ctx context.Context, node string, t clients.Target, max int) (int, error)
	// DeleteExpiredClientReports deletes the reports expired at now,
	// the disconnections queued for nodes without a report, and the
	// counters taken before samplesBefore.
	DeleteExpiredClientReports(ctx context.Context, now, samplesBefore time.Time) error
}

// ReportClients records a node's report of its connected clients,
// replacing its previous one, adds its brokers' counters to their
// history, and returns the disconnections requested for that node since.
// Returns EINVALID for an interval out of range.
func (s *Service) ReportClients(ctx context.Context, node *NodeToken, r *clients.Report) (clients.Answer, error) {
	interval := time.Duration(r.IntervalMS) * time.Millisecond
	if interval < 10*time.Millisecond || interval > 10*time.Minute {
		return clients.Answer{}, Errorf(EINVALID, "interval_ms must be from 10 to 600000, got %d", r.IntervalMS)
	}
	by := map[string][]clients.Client{}
	for _, c := range r.Clients {
		by[c.BrokerID] = append(by[c.BrokerID], c)
	}
	now := s.now()
	rep := &ClientReport{Node: node.Name, ReceivedAt: now, ExpiresAt: now.Add(clients.StaleAfter * interval)}
	index := map[string]int{} // broker id -> index in rep.Brokers
	part := func(id string) *BrokerReport {
		i, ok := index[id]
		if !ok {
			i = len(rep.Brokers)
			index[id] = i
			rep.Brokers = append(rep.Brokers, BrokerReport{BrokerID: id})
		}
		return &rep.Brokers[i]
	}
	for id, list := range by {
		part(id).Clients = encodeClients(list)
	}
	for _, st := range r.Brokers {
		raw, err := json.Marshal(st)
		if err != nil {
			return clients.Answer{}, err
		}
		part(st.BrokerID).Stats = raw
	}
	pending, err := s.store.PutClientReport(ctx, rep)
	if err != nil {
		return clients.Answer{}, err
	}
	// The report counts once committed. Reads skip what expired, so
	// deleting it is housekeeping: best effort, and once per interval
	// per process rather than in each report's transaction.
	if last := s.sweptAt.Load(); now.UnixNano()-last >= int64(clients.DefaultInterval) && s.sweptAt.CompareAndSwap(last, now.UnixNano()) {
		if err := s.store.DeleteExpiredClientReports(ctx, now, now.Add(-StatsWindow)); err != nil {
			s.log.Warn("deleting expired clients reports", "error", err)
		}
	}
	return clients.Answer{Disconnect: pending}, nil
}

// reportedClients returns the clients of broker brokerID that nodes
// reported and whose reports are fresh.
func (s *Service) reportedClients(ctx context.Context, brokerID string) ([]*ConnectedClient, error) {
	lists, err := s.store.ListReportedClients(ctx, brokerID, s.now())
	if err != nil {
		return nil, err
	}
	var all []*ConnectedClient
	for _, nl := range lists {
		list, err := decodeClients(nl.Clients, brokerID)
		if err != nil {
			return nil, Errorf(EINTERNAL, "node %s's stored clients report: %v", nl.Node, err)
		}
		cc := make([]ConnectedClient, len(list)) // one allocation per node
		for i := range list {
			cc[i] = ConnectedClient{Client: list[i], Node: nl.Node}
			all = append(all, &cc[i])
		}
	}
	return all, nil
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
	all, err := s.reportedClients(ctx, b.ID)
	if err != nil {
		return nil, 0, err
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
	all, err := s.reportedClients(ctx, b.ID)
	if err != nil {
		return err
	}
	var nodes []string
	streams := false
	for _, c := range all {
		switch {
		case c.ClientID != clientID:
		case c.Transport == clients.TransportSSE:
			streams = true
		case !slices.Contains(nodes, c.Node):
			nodes = append(nodes, c.Node)
		}
	}
	if len(nodes) == 0 && streams {
		return Errorf(EINVALID, "client %q has only SSE streams, which a disconnection does not end; revoke its token (jti) instead", truncateID(clientID))
	}
	if len(nodes) == 0 {
		return Errorf(ENOTFOUND, "client %q is not connected to broker %q on any node that reported in the last seconds", truncateID(clientID), b.Name)
	}
	for _, n := range nodes {
		queued, err := s.store.QueueDisconnect(ctx, n, clients.Target{BrokerID: b.ID, ClientID: clientID}, MaxPendingDisconnects)
		if err != nil {
			return err
		}
		if queued >= MaxPendingDisconnects {
			return Errorf(ETOOLARGE, "node %s has %d disconnections pending already; retry in a few seconds", n, queued)
		}
	}
	return nil
}

func truncateID(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
