-- Self-signed (fastly-style HS256) tokens: per-broker switches and the
-- shared signing keys, whose secrets are sealed with the KEK.
ALTER TABLE brokers ADD COLUMN self_signed_tokens boolean NOT NULL DEFAULT false;
ALTER TABLE brokers ADD COLUMN fastly_wildcards boolean NOT NULL DEFAULT false;

CREATE TABLE hmac_keys (
	broker_id     text COLLATE "C" NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	id            text COLLATE "C" NOT NULL,
	sealed_secret bytea NOT NULL,
	created_on    timestamptz NOT NULL,
	PRIMARY KEY (broker_id, id)
);
