-- The control plane schema for the embedded store. Tables are STRICT.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC), which
-- keeps microsecond precision, sorts and compares as numbers. ACL lists are
-- JSON arrays, NULL when the token has no such claim.
--
-- The store tells constraint violations apart by their extended result
-- code (SQLITE_CONSTRAINT_PRIMARYKEY, _UNIQUE, _FOREIGNKEY), so a table has
-- at most one UNIQUE constraint besides its primary key.

CREATE TABLE accounts (
	id         TEXT PRIMARY KEY,
	email      TEXT NOT NULL UNIQUE,
	key_hash   BLOB,
	token_hash BLOB,
	created_on INTEGER NOT NULL
) STRICT;
CREATE INDEX accounts_token_hash_idx ON accounts (token_hash);

CREATE TABLE namespaces (
	id          TEXT PRIMARY KEY,
	account_id  TEXT NOT NULL REFERENCES accounts (id),
	name        TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL,
	created_on  INTEGER NOT NULL,
	modified_on INTEGER NOT NULL
) STRICT;
CREATE INDEX namespaces_account_created_idx ON namespaces (account_id, created_on, id);

CREATE TABLE brokers (
	id             TEXT PRIMARY KEY,
	namespace_id   TEXT NOT NULL REFERENCES namespaces (id),
	name           TEXT NOT NULL,
	auth_type      TEXT NOT NULL,
	description    TEXT NOT NULL,
	expiration     INTEGER,
	on_publish_url TEXT NOT NULL,
	created_on     INTEGER NOT NULL,
	modified_on    INTEGER NOT NULL,
	UNIQUE (namespace_id, name)
) STRICT;
CREATE INDEX brokers_namespace_created_idx ON brokers (namespace_id, created_on, id);
CREATE INDEX brokers_created_idx ON brokers (created_on, id);

CREATE TABLE signing_keys (
	broker_id   TEXT NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	id          TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('current', 'next', 'retired')),
	public_key  BLOB NOT NULL,
	sealed_key  BLOB NOT NULL,
	created_on  INTEGER NOT NULL,
	modified_on INTEGER NOT NULL,
	PRIMARY KEY (broker_id, id)
) STRICT;
-- A broker has at most one current and one next key.
CREATE UNIQUE INDEX signing_keys_active_idx ON signing_keys (broker_id, state) WHERE state <> 'retired';

CREATE TABLE credentials (
	broker_id     TEXT NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	jti           TEXT NOT NULL,
	client_id     TEXT NOT NULL,
	key_id        TEXT NOT NULL,
	issued_at     INTEGER NOT NULL,
	expires_at    INTEGER,
	topic_acl     TEXT,
	publish_acl   TEXT,
	subscribe_acl TEXT,
	PRIMARY KEY (broker_id, jti)
) STRICT;
CREATE INDEX credentials_broker_issued_idx ON credentials (broker_id, issued_at, jti);

CREATE TABLE revocations (
	broker_id  TEXT NOT NULL,
	jti        TEXT NOT NULL,
	revoked_at INTEGER NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (broker_id, jti),
	FOREIGN KEY (broker_id, jti) REFERENCES credentials (broker_id, jti) ON DELETE CASCADE
) STRICT;
CREATE INDEX revocations_broker_revoked_idx ON revocations (broker_id, revoked_at, jti);
CREATE INDEX revocations_expires_idx ON revocations (expires_at) WHERE expires_at IS NOT NULL;

-- The change feed. SQLite has one writer at a time, so the counter is in
-- commit order by construction; it lives in its own row (rather than being
-- max(revision)) so that pruning the feed never reuses a revision.
CREATE TABLE revision (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	value INTEGER NOT NULL
) STRICT;
INSERT INTO revision (id, value) VALUES (1, 0);

CREATE TABLE changes (
	revision     INTEGER PRIMARY KEY,
	kind         TEXT NOT NULL,
	namespace_id TEXT NOT NULL,
	broker_id    TEXT NOT NULL,
	jti          TEXT NOT NULL,
	at           INTEGER NOT NULL
) STRICT;

CREATE TABLE node_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	token_hash BLOB NOT NULL,
	created_on INTEGER NOT NULL
) STRICT;
CREATE INDEX node_tokens_token_hash_idx ON node_tokens (token_hash);
