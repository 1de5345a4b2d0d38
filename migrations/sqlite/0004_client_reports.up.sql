-- The nodes' connected-clients reports (pkg/clients), kept here rather
-- than in one control-plane process's memory so that every process
-- sharing the database sees them. Everything here expires: the control
-- plane deletes what expired as reports arrive. Times are Unix
-- microseconds.

-- The last report of each node (by the name of its token).
CREATE TABLE client_reports (
	node        TEXT PRIMARY KEY,
	received_at INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX client_reports_expires_at_idx ON client_reports (expires_at);

-- The clients of one broker in a node's last report, encoded by the
-- control plane (controlplane/clientcodec.go).
CREATE TABLE reported_clients (
	broker_id  TEXT NOT NULL,
	node       TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	clients    BLOB NOT NULL,
	PRIMARY KEY (broker_id, node)
) STRICT;
CREATE INDEX reported_clients_node_idx ON reported_clients (node);
CREATE INDEX reported_clients_expires_at_idx ON reported_clients (expires_at);

-- A broker's counters in each report of a node, as JSON, for the last
-- minutes.
CREATE TABLE broker_samples (
	id        INTEGER PRIMARY KEY,
	broker_id TEXT NOT NULL,
	node      TEXT NOT NULL,
	at        INTEGER NOT NULL,
	stats     BLOB NOT NULL
) STRICT;
CREATE INDEX broker_samples_broker_idx ON broker_samples (broker_id, at);
CREATE INDEX broker_samples_at_idx ON broker_samples (at);

-- Disconnections an operator asked for, until the node's next report.
CREATE TABLE queued_disconnects (
	id        INTEGER PRIMARY KEY,
	node      TEXT NOT NULL,
	broker_id TEXT NOT NULL,
	client_id TEXT NOT NULL
) STRICT;
CREATE INDEX queued_disconnects_node_idx ON queued_disconnects (node, id);
