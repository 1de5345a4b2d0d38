-- The fleet's TLS session ticket keys, shared by every node through the
-- config feed; secrets sealed with the KEK. The control plane adds one per
-- rotation interval and deletes those past the ticket lifetime.
CREATE TABLE tls_ticket_keys (
	id            TEXT PRIMARY KEY,
	sealed_secret BLOB NOT NULL,
	created_on    INTEGER NOT NULL
) STRICT;
CREATE INDEX tls_ticket_keys_created_idx ON tls_ticket_keys (created_on);
