DROP TABLE hmac_keys;
ALTER TABLE brokers DROP COLUMN fastly_wildcards;
ALTER TABLE brokers DROP COLUMN self_signed_tokens;
