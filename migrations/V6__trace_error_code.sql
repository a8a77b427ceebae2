-- Why a failed trace failed, as a stable code (llm_timeout, llm_unavailable, shutdown, ...).
-- The `error` column keeps the full detail for the owner; readers without the admin scope
-- see only the code and a generic message. Failures from before this column have no code.
ALTER TABLE consciousness_traces ADD COLUMN error_code text;
