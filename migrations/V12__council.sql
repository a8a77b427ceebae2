-- Council mode: several personas answer, a synthesizer merges their answers. The trace's
-- `council` keeps each voice, a JSON array of {persona, model, answer | error_code,
-- prompt_tokens, completion_tokens}; the synthesis is the trace's response. Null for any
-- other mode. A conversation may be in council mode too.
ALTER TABLE consciousness_traces
    ADD COLUMN council jsonb,
    DROP CONSTRAINT consciousness_traces_mode_check,
    ADD CONSTRAINT consciousness_traces_mode_check CHECK (mode IN ('fast', 'deep', 'council'));
ALTER TABLE conversations
    DROP CONSTRAINT conversations_mode_check,
    ADD CONSTRAINT conversations_mode_check CHECK (mode IN ('fast', 'deep', 'council'));
