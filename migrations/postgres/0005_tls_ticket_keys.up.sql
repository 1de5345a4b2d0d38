-- The fleet's TLS session ticket keys, shared by every node through the
-- config feed; secrets sealed with the KEK. The control plane adds one per
-- rotation interval and deletes those past the ticket lifetime.
CREATE TABLE tls_ticket_keys (
	id            text COLLATE "C" PRIMARY KEY,
	sealed_secret bytea NOT NULL,
	created_on    timestamptz NOT NULL
);
CREATE INDEX tls_ticket_keys_created_idx ON tls_ticket_keys (created_on);
