CREATE TABLE revocations_old (
	broker_id  TEXT NOT NULL,
	jti        TEXT NOT NULL,
	revoked_at INTEGER NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (broker_id, jti),
	FOREIGN KEY (broker_id, jti) REFERENCES credentials (broker_id, jti) ON DELETE CASCADE
) STRICT;
INSERT INTO revocations_old (broker_id, jti, revoked_at, expires_at)
	SELECT r.broker_id, r.jti, r.revoked_at, r.expires_at FROM revocations r
	JOIN credentials c ON c.broker_id = r.broker_id AND c.jti = r.jti;
DROP TABLE revocations;
ALTER TABLE revocations_old RENAME TO revocations;
CREATE INDEX revocations_broker_revoked_idx ON revocations (broker_id, revoked_at, jti);
CREATE INDEX revocations_expires_idx ON revocations (expires_at) WHERE expires_at IS NOT NULL;
DROP TABLE hmac_keys;
ALTER TABLE brokers DROP COLUMN fastly_wildcards;
ALTER TABLE brokers DROP COLUMN self_signed_tokens;
