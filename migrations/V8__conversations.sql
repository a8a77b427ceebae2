-- Conversations: messages in order, each question answered with the earlier messages as
-- context. Every exchange is still a trace: the trace links to the question it answers
-- (`consciousness_traces.message_id`), and an answer to the trace it came from
-- (`messages.trace_id`).
CREATE TABLE conversations (
    id               uuid        PRIMARY KEY,
    -- The token that started it (none where authentication is off); a token sees its own.
    token_id         uuid        REFERENCES access_tokens (id) ON DELETE SET NULL,
    title            text        CHECK (char_length(title) BETWEEN 1 AND 200),
    persona          text,
    model            text,
    mode             text        NOT NULL CHECK (mode IN ('fast', 'deep')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The last message's time: conversations are listed newest activity first.
    last_activity_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX conversations_newest_activity
    ON conversations (last_activity_at DESC, id DESC);
CREATE INDEX conversations_by_token
    ON conversations (token_id, last_activity_at DESC, id DESC);

CREATE TABLE messages (
    id              uuid        PRIMARY KEY,
    -- The order of messages: a clock can tie or step back, a sequence does not.
    seq             bigint      GENERATED ALWAYS AS IDENTITY,
    conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            text        NOT NULL CHECK (role IN ('user', 'assistant')),
    content         text        NOT NULL,
    -- An answer's trace; a question's trace points at the question instead.
    trace_id        uuid        REFERENCES consciousness_traces (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX messages_in_order ON messages (conversation_id, seq);

ALTER TABLE consciousness_traces
    ADD COLUMN message_id uuid REFERENCES messages (id) ON DELETE SET NULL;

CREATE INDEX consciousness_traces_by_message ON consciousness_traces (message_id);
