-- Deleting a trace sets `messages.trace_id` to null in the answer that points at it (the
-- message keeps its text). Without an index each deleted trace would scan `messages`:
-- retention deletes traces a thousand at a time.
CREATE INDEX messages_by_trace ON messages (trace_id);
