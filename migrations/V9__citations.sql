-- Answers drawn from the owner's documents say which: `citations`, a JSON array of
-- {document_id, title, chunk, score}, on the trace and on a conversation's answer. Core, not
-- knowledge: it needs no pgvector, and stays empty (null) where knowledge is off.
ALTER TABLE consciousness_traces ADD COLUMN citations jsonb;
ALTER TABLE messages ADD COLUMN citations jsonb;
