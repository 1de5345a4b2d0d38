DELETE FROM revocations r
	WHERE NOT EXISTS (SELECT 1 FROM credentials c WHERE c.broker_id = r.broker_id AND c.jti = r.jti);
ALTER TABLE revocations DROP CONSTRAINT revocations_broker_id_fkey;
ALTER TABLE revocations ADD CONSTRAINT revocations_broker_id_jti_fkey
	FOREIGN KEY (broker_id, jti) REFERENCES credentials (broker_id, jti) ON DELETE CASCADE;
DROP TABLE hmac_keys;
ALTER TABLE brokers DROP COLUMN fastly_wildcards;
ALTER TABLE brokers DROP COLUMN self_signed_tokens;
