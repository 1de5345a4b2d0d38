package sqlite

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// PutClientReport replaces r.Node's report with r, adds its brokers'
// counters to their history, and returns and removes the disconnections
// queued for r.Node, oldest first.
func (s *Store) PutClientReport(ctx context.Context, r *controlplane.ClientReport) ([]clients.Target, error) {
	var pending []queuedTarget
	err := s.write(ctx, func(tx *tx) error {
		at, exp := micros(r.ReceivedAt), micros(r.ExpiresAt)
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO client_reports (node, received_at, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (node) DO UPDATE SET received_at = excluded.received_at, expires_at = excluded.expires_at`,
			r.Node, at, exp); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM reported_clients WHERE node = $1`, r.Node); err != nil {
			return err
		}
		addClients, err := tx.PrepareContext(ctx, `INSERT INTO reported_clients (broker_id, node, expires_at, clients) VALUES ($1, $2, $3, $4)`)
		if err != nil {
			return err
		}
		defer addClients.Close()
		addSample, err := tx.PrepareContext(ctx, `INSERT INTO broker_samples (broker_id, node, at, stats) VALUES ($1, $2, $3, $4)`)
		if err != nil {
			return err
		}
		defer addSample.Close()
		for _, b := range r.Brokers {
			if b.Clients != nil {
				if _, err := addClients.ExecContext(ctx, b.BrokerID, r.Node, exp, b.Clients); err != nil {
					return err
				}
			}
			if b.Stats != nil {
				if _, err := addSample.ExecContext(ctx, b.BrokerID, r.Node, at, b.Stats); err != nil {
					return err
				}
			}
		}
		pending, err = query(ctx, tx, scanTarget, `DELETE FROM queued_disconnects WHERE node = $1 RETURNING broker_id, client_id, id`, r.Node)
		return err
	})
	// RETURNING gives no order: the targets come back by id.
	return sortTargets(pending), err
}

// ListReportedClients returns the clients of broker brokerID on every
// node whose report has not expired at now, by node name.
func (s *Store) ListReportedClients(ctx context.Context, brokerID string, now time.Time) ([]controlplane.NodeClients, error) {
	list, err := query(ctx, s.readDB, func(row scanner) (controlplane.NodeClients, error) {
		var n controlplane.NodeClients
		err := row.Scan(&n.Node, &n.Clients)
		return n, err
	}, `SELECT node, clients FROM reported_clients WHERE broker_id = $1 AND expires_at > $2 ORDER BY node`, brokerID, micros(now))
	return list, interpretError(err)
}

// ListNodeSamples returns the counters of broker brokerID taken at or
// after since, of every node whose report has not expired at now, by node
// name, then oldest first.
func (s *Store) ListNodeSamples(ctx context.Context, brokerID string, since, now time.Time) ([]controlplane.NodeSample, error) {
	list, err := query(ctx, s.readDB, func(row scanner) (controlplane.NodeSample, error) {
		var n controlplane.NodeSample
		var at int64
		err := row.Scan(&n.Node, &at, &n.Stats)
		n.At = fromMicros(at)
		return n, err
	}, `
		SELECT s.node, s.at, s.stats FROM broker_samples s JOIN client_reports r ON r.node = s.node
		WHERE s.broker_id = $1 AND s.at >= $2 AND r.expires_at > $3
		ORDER BY s.node, s.at, s.id`, brokerID, micros(since), micros(now))
	return list, interpretError(err)
}

// QueueDisconnect queues t for node's next report, unless node has max
// disconnections queued already, and returns how many were queued
// before.
func (s *Store) QueueDisconnect(ctx context.Context, node string, t clients.Target, max int) (int, error) {
	var n int
	err := s.write(ctx, func(tx *tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM queued_disconnects WHERE node = $1`, node).Scan(&n); err != nil || n >= max {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO queued_disconnects (node, broker_id, client_id) VALUES ($1, $2, $3)`, node, t.BrokerID, t.ClientID)
		return err
	})
	return n, err
}

// DeleteExpiredClientReports deletes the reports expired at now, the
// disconnections queued for nodes without a report, and the counters
// taken before samplesBefore.
func (s *Store) DeleteExpiredClientReports(ctx context.Context, now, samplesBefore time.Time) error {
	return s.write(ctx, func(tx *tx) error {
		for _, q := range []struct {
			sql string
			arg int64
		}{
			{`DELETE FROM client_reports WHERE expires_at <= $1`, micros(now)},
			{`DELETE FROM reported_clients WHERE expires_at <= $1`, micros(now)},
			{`DELETE FROM broker_samples WHERE at < $1`, micros(samplesBefore)},
		} {
			if _, err := tx.ExecContext(ctx, q.sql, q.arg); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM queued_disconnects WHERE node NOT IN (SELECT node FROM client_reports)`)
		return err
	})
}

// queuedTarget is a queued disconnection and its place in the queue.
type queuedTarget struct {
	clients.Target
	id int64
}

func scanTarget(row scanner) (queuedTarget, error) {
	var t queuedTarget
	err := row.Scan(&t.BrokerID, &t.ClientID, &t.id)
	return t, err
}

func sortTargets(list []queuedTarget) []clients.Target {
	slices.SortFunc(list, func(a, b queuedTarget) int { return cmp.Compare(a.id, b.id) })
	out := make([]clients.Target, len(list))
	for i, t := range list {
		out[i] = t.Target
	}
	return out
}
