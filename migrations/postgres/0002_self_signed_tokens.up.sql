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

-- A self-signed token's jti was never issued here, so a revocation no
-- longer needs a credential row: it belongs to its broker. Credentials are
-- only ever deleted with their broker, so the cascade is unchanged.
ALTER TABLE revocations DROP CONSTRAINT revocations_broker_id_jti_fkey;
ALTER TABLE revocations ADD CONSTRAINT revocations_broker_id_fkey
	FOREIGN KEY (broker_id) REFERENCES brokers (id) ON DELETE CASCADE;
