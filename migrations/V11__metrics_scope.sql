-- The `metrics` scope: a token that may read `GET /metrics` and nothing else.
ALTER TABLE access_tokens
    DROP CONSTRAINT access_tokens_scopes_check,
    ADD CONSTRAINT access_tokens_scopes_check
        CHECK (scopes <@ ARRAY['query', 'read', 'admin', 'metrics'] AND cardinality(scopes) > 0);
