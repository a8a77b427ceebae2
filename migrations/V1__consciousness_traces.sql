-- Every exchange with the model, kept whether it succeeded or not, so no query is lost.
-- The table name is the seed system's: users coming from it query it directly.
CREATE TABLE consciousness_traces (
    id                uuid        PRIMARY KEY,
    query             text        NOT NULL,
    response          text,
    mode              text        NOT NULL CHECK (mode IN ('fast', 'deep')),
    persona           text,
    model             text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('ok', 'failed')),
    error             text,
    latency_ms        integer     NOT NULL CHECK (latency_ms >= 0),
    prompt_tokens     integer,
    completion_tokens integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'ok' AND response IS NOT NULL) OR (status = 'failed' AND error IS NOT NULL))
);

-- Newest-first listing with keyset pagination on (created_at, id).
CREATE INDEX consciousness_traces_newest_first
    ON consciousness_traces (created_at DESC, id DESC);
