-- Browser sessions: the cookie holds a random id, the database its SHA-256 and the token it
-- stands for. Revoking (or deleting) the token ends its sessions.
CREATE TABLE sessions (
    hash       bytea       PRIMARY KEY CHECK (octet_length(hash) = 32),
    token_id   uuid        NOT NULL REFERENCES access_tokens (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_token ON sessions (token_id);
