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

-- A self-signed token's jti was never issued here, so a revocation no
-- longer needs a credential row: it belongs to its broker. Credentials are
-- only ever deleted with their broker, so the cascade is unchanged.
CREATE TABLE revocations_new (
	broker_id  TEXT NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	jti        TEXT NOT NULL,
	revoked_at INTEGER NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (broker_id, jti)
) STRICT;
INSERT INTO revocations_new (broker_id, jti, revoked_at, expires_at)
	SELECT broker_id, jti, revoked_at, expires_at FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_broker_revoked_idx ON revocations (broker_id, revoked_at, jti);
CREATE INDEX revocations_expires_idx ON revocations (expires_at) WHERE expires_at IS NOT NULL;
