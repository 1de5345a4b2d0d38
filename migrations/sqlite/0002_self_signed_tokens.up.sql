-- Self-signed (fastly-style HS256) tokens: per-broker switches and the
-- shared signing keys, whose secrets are sealed with the KEK.
ALTER TABLE brokers ADD COLUMN self_signed_tokens INTEGER NOT NULL DEFAULT 0 CHECK (self_signed_tokens IN (0, 1));
ALTER TABLE brokers ADD COLUMN fastly_wildcards INTEGER NOT NULL DEFAULT 0 CHECK (fastly_wildcards IN (0, 1));

CREATE TABLE hmac_keys (
	broker_id     TEXT NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	id            TEXT NOT NULL,
	sealed_secret BLOB NOT NULL,
	created_on    INTEGER NOT NULL,
	PRIMARY KEY (broker_id, id)
) STRICT;
