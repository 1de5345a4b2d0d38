-- The nodes' connected-clients reports (pkg/clients), kept here rather
-- than in one control-plane process's memory so that every process
-- behind a load balancer sees them. Everything here expires: the
-- control plane deletes what expired as reports arrive.

-- The last report of each node (by the name of its token).
CREATE TABLE client_reports (
	node        text PRIMARY KEY,
	received_at timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
CREATE INDEX client_reports_expires_at_idx ON client_reports (expires_at);

-- The clients of one broker in a node's last report, encoded by the
-- control plane (controlplane/clientcodec.go).
CREATE TABLE reported_clients (
	broker_id  text NOT NULL,
	node       text NOT NULL,
	expires_at timestamptz NOT NULL,
	clients    bytea NOT NULL,
	PRIMARY KEY (broker_id, node)
);
CREATE INDEX reported_clients_node_idx ON reported_clients (node);
CREATE INDEX reported_clients_expires_at_idx ON reported_clients (expires_at);

-- A broker's counters in each report of a node, as JSON, for the last
-- minutes.
CREATE TABLE broker_samples (
	id        bigserial PRIMARY KEY,
	broker_id text NOT NULL,
	node      text NOT NULL,
	at        timestamptz NOT NULL,
	stats     bytea NOT NULL
);
CREATE INDEX broker_samples_broker_idx ON broker_samples (broker_id, at);
CREATE INDEX broker_samples_at_idx ON broker_samples (at);

-- Disconnections an operator asked for, until the node's next report.
CREATE TABLE queued_disconnects (
	id        bigserial PRIMARY KEY,
	node      text NOT NULL,
	broker_id text NOT NULL,
	client_id text NOT NULL
);
CREATE INDEX queued_disconnects_node_idx ON queued_disconnects (node, id);
