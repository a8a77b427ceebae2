-- A third trace status: `cancelled`, for a question whose client went away before the
-- answer (the model's call is then stopped). The answer's text so far, if any, stays in
-- `response`; `error` says why it stopped, as for a failure. Questions whose client left
-- were stored as failed (`client_closed_request`) before this status existed.
ALTER TABLE consciousness_traces
    DROP CONSTRAINT consciousness_traces_status_check,
    DROP CONSTRAINT consciousness_traces_check;

UPDATE consciousness_traces SET status = 'cancelled'
    WHERE status = 'failed' AND error_code = 'client_closed_request';

ALTER TABLE consciousness_traces
    ADD CONSTRAINT consciousness_traces_status_check
        CHECK (status IN ('ok', 'failed', 'cancelled')),
    ADD CONSTRAINT consciousness_traces_check
        CHECK ((status = 'ok' AND response IS NOT NULL)
               OR (status IN ('failed', 'cancelled') AND error IS NOT NULL));
