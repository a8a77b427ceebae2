-- Access tokens. Only a token's SHA-256 is kept; the token itself is shown once.
-- A revoked token stays, with its name, so that the history still says who asked.
CREATE TABLE access_tokens (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    hash         bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    scopes       text[]      NOT NULL CHECK (scopes <@ ARRAY['query', 'read', 'admin']
                                             AND cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- One live token per name.
CREATE UNIQUE INDEX access_tokens_live_name ON access_tokens (name) WHERE revoked_at IS NULL;
