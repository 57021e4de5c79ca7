-- When a failed job run may be attempted again (exponential backoff, computed by the engine).
ALTER TABLE job_runs ADD COLUMN next_attempt_at TIMESTAMPTZ;
CREATE INDEX job_runs_retry_idx ON job_runs (job_name, next_attempt_at) WHERE status = 'FAILED';
