-- The control plane schema. Timestamps are timestamptz (microsecond
-- precision); the store writes them truncated to the microsecond and reads
-- them back in UTC. Constraint names are matched by the store to turn
-- violations into API errors: rename one only together with the code.
-- Ids, names and jtis sort bytewise (COLLATE "C"), whatever the database's
-- locale, so lists come out in the same order as from the SQLite store.

CREATE TABLE accounts (
	id         text COLLATE "C" PRIMARY KEY,
	email      text NOT NULL,
	key_hash   bytea,
	token_hash bytea,
	created_on timestamptz NOT NULL,
	CONSTRAINT accounts_email_key UNIQUE (email)
);
CREATE INDEX accounts_token_hash_idx ON accounts (token_hash);

CREATE TABLE namespaces (
	id          text COLLATE "C" PRIMARY KEY,
	account_id  text COLLATE "C" NOT NULL REFERENCES accounts (id),
	name        text COLLATE "C" NOT NULL,
	description text NOT NULL,
	created_on  timestamptz NOT NULL,
	modified_on timestamptz NOT NULL,
	-- Names are global: they are part of every broker hostname.
	CONSTRAINT namespaces_name_key UNIQUE (name)
);
CREATE INDEX namespaces_account_created_idx ON namespaces (account_id, created_on, id);

CREATE TABLE brokers (
	id             text COLLATE "C" PRIMARY KEY,
	namespace_id   text COLLATE "C" NOT NULL REFERENCES namespaces (id),
	name           text COLLATE "C" NOT NULL,
	auth_type      text NOT NULL,
	description    text NOT NULL,
	expiration     bigint,
	on_publish_url text NOT NULL,
	created_on     timestamptz NOT NULL,
	modified_on    timestamptz NOT NULL,
	CONSTRAINT brokers_namespace_name_key UNIQUE (namespace_id, name)
);
CREATE INDEX brokers_namespace_created_idx ON brokers (namespace_id, created_on, id);
CREATE INDEX brokers_created_idx ON brokers (created_on, id);

CREATE TABLE signing_keys (
	broker_id   text COLLATE "C" NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	id          text COLLATE "C" NOT NULL,
	state       text NOT NULL CHECK (state IN ('current', 'next', 'retired')),
	public_key  bytea NOT NULL,
	sealed_key  bytea NOT NULL,
	created_on  timestamptz NOT NULL,
	modified_on timestamptz NOT NULL,
	PRIMARY KEY (broker_id, id)
);
-- A broker has at most one current and one next key.
CREATE UNIQUE INDEX signing_keys_active_idx ON signing_keys (broker_id, state) WHERE state <> 'retired';

-- ACL columns are NULL when the token has no such claim, so that a missing
-- claim and an empty list stay distinct.
CREATE TABLE credentials (
	broker_id     text COLLATE "C" NOT NULL REFERENCES brokers (id) ON DELETE CASCADE,
	jti           text COLLATE "C" NOT NULL,
	client_id     text COLLATE "C" NOT NULL,
	key_id        text COLLATE "C" NOT NULL,
	issued_at     timestamptz NOT NULL,
	expires_at    timestamptz,
	topic_acl     text[],
	publish_acl   text[],
	subscribe_acl text[],
	PRIMARY KEY (broker_id, jti)
);
CREATE INDEX credentials_broker_issued_idx ON credentials (broker_id, issued_at, jti);

CREATE TABLE revocations (
	broker_id  text COLLATE "C" NOT NULL,
	jti        text COLLATE "C" NOT NULL,
	revoked_at timestamptz NOT NULL,
	expires_at timestamptz,
	PRIMARY KEY (broker_id, jti),
	FOREIGN KEY (broker_id, jti) REFERENCES credentials (broker_id, jti) ON DELETE CASCADE
);
CREATE INDEX revocations_broker_revoked_idx ON revocations (broker_id, revoked_at, jti);
CREATE INDEX revocations_expires_idx ON revocations (expires_at) WHERE expires_at IS NOT NULL;

-- The change feed. Revisions come from the one-row revision table, not from
-- a sequence: UPDATE ... RETURNING holds the row lock until commit, so
-- revisions are handed out in commit order and a reader that has seen
-- revision N never misses a lower revision that commits later.
CREATE TABLE revision (
	id    boolean PRIMARY KEY DEFAULT true CHECK (id),
	value bigint NOT NULL
);
INSERT INTO revision (id, value) VALUES (true, 0);

CREATE TABLE changes (
	revision     bigint PRIMARY KEY,
	kind         text NOT NULL,
	namespace_id text COLLATE "C" NOT NULL,
	broker_id    text COLLATE "C" NOT NULL,
	jti          text COLLATE "C" NOT NULL,
	at           timestamptz NOT NULL
);

CREATE TABLE node_tokens (
	id         text COLLATE "C" PRIMARY KEY,
	name       text COLLATE "C" NOT NULL,
	token_hash bytea NOT NULL,
	created_on timestamptz NOT NULL,
	CONSTRAINT node_tokens_name_key UNIQUE (name)
);
CREATE INDEX node_tokens_token_hash_idx ON node_tokens (token_hash);
