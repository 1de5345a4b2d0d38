package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openpubsub/pubsub/controlplane"
	"github.com/openpubsub/pubsub/pkg/clients"
)

// PutClientReport replaces r.Node's report with r, adds its brokers'
// counters to their history, and returns and removes the disconnections
// queued for r.Node, oldest first. The rows go in with one statement per
// table, whatever the number of brokers.
func (s *Store) PutClientReport(ctx context.Context, r *controlplane.ClientReport) ([]clients.Target, error) {
	var (
		clientBrokers, sampleBrokers []string
		clientLists, samples         [][]byte
	)
	for _, b := range r.Brokers {
		if b.Clients != nil {
			clientBrokers, clientLists = append(clientBrokers, b.BrokerID), append(clientLists, b.Clients)
		}
		if b.Stats != nil {
			sampleBrokers, samples = append(sampleBrokers, b.BrokerID), append(samples, b.Stats)
		}
	}
	at, exp := ts(r.ReceivedAt), ts(r.ExpiresAt)
	var pending []clients.Target
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO client_reports (node, received_at, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (node) DO UPDATE SET received_at = excluded.received_at, expires_at = excluded.expires_at`,
			r.Node, at, exp); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM reported_clients WHERE node = $1`, r.Node); err != nil {
			return err
		}
		if len(clientBrokers) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO reported_clients (broker_id, node, expires_at, clients)
				SELECT b, $2, $3, c FROM unnest($1::text[], $4::bytea[]) AS x(b, c)`,
				clientBrokers, r.Node, exp, clientLists); err != nil {
				return err
			}
		}
		if len(sampleBrokers) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO broker_samples (broker_id, node, at, stats)
				SELECT b, $2, $3, st FROM unnest($1::text[], $4::bytea[]) AS x(b, st)`,
				sampleBrokers, r.Node, at, samples); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `
			WITH d AS (DELETE FROM queued_disconnects WHERE node = $1 RETURNING id, broker_id, client_id)
			SELECT broker_id, client_id FROM d ORDER BY id`, r.Node)
		if err != nil {
			return err
		}
		pending, err = collect(rows, func(rows pgx.Rows) (clients.Target, error) {
			var t clients.Target
			err := rows.Scan(&t.BrokerID, &t.ClientID)
			return t, err
		})
		return err
	})
	return pending, err
}

// ListReportedClients returns the clients of broker brokerID on every
// node whose report has not expired at now, by node name.
func (s *Store) ListReportedClients(ctx context.Context, brokerID string, now time.Time) ([]controlplane.NodeClients, error) {
	rows, err := s.pool.Query(ctx, `SELECT node, clients FROM reported_clients WHERE broker_id = $1 AND expires_at > $2 ORDER BY node`, brokerID, ts(now))
	if err != nil {
		return nil, interpretError(err)
	}
	list, err := collect(rows, func(rows pgx.Rows) (controlplane.NodeClients, error) {
		var n controlplane.NodeClients
		err := rows.Scan(&n.Node, &n.Clients)
		return n, err
	})
	return list, interpretError(err)
}

// ListNodeSamples returns the counters of broker brokerID taken at or
// after since, of every node whose report has not expired at now, by node
// name, then oldest first.
func (s *Store) ListNodeSamples(ctx context.Context, brokerID string, since, now time.Time) ([]controlplane.NodeSample, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT s.node, s.at, s.stats FROM broker_samples s JOIN client_reports r ON r.node = s.node
		WHERE s.broker_id = $1 AND s.at >= $2 AND r.expires_at > $3
		ORDER BY s.node, s.at, s.id`, brokerID, ts(since), ts(now))
	if err != nil {
		return nil, interpretError(err)
	}
	list, err := collect(rows, func(rows pgx.Rows) (controlplane.NodeSample, error) {
		var n controlplane.NodeSample
		err := rows.Scan(&n.Node, &n.At, &n.Stats)
		n.At = n.At.UTC()
		return n, err
	})
	return list, interpretError(err)
}

// QueueDisconnect queues t for node's next report, unless node has max
// disconnections queued already, and returns how many were queued
// before. Two control planes queueing at once may both pass the bound,
// by one each.
func (s *Store) QueueDisconnect(ctx context.Context, node string, t clients.Target, max int) (int, error) {
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		var err error
		if n, err = count(ctx, tx, `SELECT count(*) FROM queued_disconnects WHERE node = $1`, node); err != nil || n >= max {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO queued_disconnects (node, broker_id, client_id) VALUES ($1, $2, $3)`, node, t.BrokerID, t.ClientID)
		return err
	})
	return n, err
}

// DeleteExpiredClientReports deletes the reports expired at now, the
// disconnections queued for nodes without a report, and the counters
// taken before samplesBefore. Each statement commits on its own, so that
// control planes cleaning up at once hold few locks.
func (s *Store) DeleteExpiredClientReports(ctx context.Context, now, samplesBefore time.Time) error {
	for _, q := range []struct {
		sql string
		arg time.Time
	}{
		{`DELETE FROM client_reports WHERE expires_at <= $1`, ts(now)},
		{`DELETE FROM reported_clients WHERE expires_at <= $1`, ts(now)},
		{`DELETE FROM broker_samples WHERE at < $1`, ts(samplesBefore)},
	} {
		if _, err := s.pool.Exec(ctx, q.sql, q.arg); err != nil {
			return interpretError(err)
		}
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM queued_disconnects WHERE node NOT IN (SELECT node FROM client_reports)`)
	return interpretError(err)
}
