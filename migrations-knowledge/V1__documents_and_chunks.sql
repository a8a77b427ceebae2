-- Knowledge: the owner's documents, cut into chunks, each with an embedding (pgvector) and
-- a tsvector for full-text search. These migrations are kept apart from the core ones
-- (their own history table, refinery_knowledge_history) and applied only where the
-- extension `vector` is there: maia works on a PostgreSQL without pgvector, knowledge off.
-- The embedding column gets its length, and its HNSW index, when maia sets knowledge up for
-- knowledge.embed_model and knowledge.embed_dimensions (knowledge_embedding records which).
CREATE TABLE documents (
    id           uuid        PRIMARY KEY,
    -- The token that added it; none: added by the owner from the command line, and seen by
    -- every token.
    token_id     uuid        REFERENCES access_tokens (id) ON DELETE SET NULL,
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    -- Where it came from (a file's path, a URL): a document is replaced, not added again,
    -- when the same source comes back with other content.
    source       text        CHECK (char_length(source) BETWEEN 1 AND 2048),
    content      text        NOT NULL,
    -- SHA-256 of the content, hex: an import that finds it unchanged does nothing.
    content_hash text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX documents_by_source
    ON documents (COALESCE(token_id, '00000000-0000-0000-0000-000000000000'::uuid), source)
    WHERE source IS NOT NULL;
CREATE INDEX documents_newest_first ON documents (created_at DESC, id DESC);

CREATE TABLE chunks (
    document_id uuid     NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    position    integer  NOT NULL CHECK (position >= 0),
    text        text     NOT NULL,
    -- None while it waits to be embedded again (`maia docs reembed`).
    embedding   vector,
    tsv         tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
    PRIMARY KEY (document_id, position)
);

CREATE INDEX chunks_full_text ON chunks USING gin (tsv);

-- The model whose embeddings the chunks hold, and their length: one row.
CREATE TABLE knowledge_embedding (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    model      text    NOT NULL,
    dimensions integer NOT NULL CHECK (dimensions > 0)
);
