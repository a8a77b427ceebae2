-- Who asked: the token of each trace (none for traces from before authentication, or from a
-- loopback-only maia without it).
ALTER TABLE consciousness_traces
    ADD COLUMN token_id uuid REFERENCES access_tokens (id) ON DELETE SET NULL;

CREATE INDEX consciousness_traces_by_token
    ON consciousness_traces (token_id, created_at DESC, id DESC);
