-- Due jobs of one queue in run order: the worker claims the dispatch queue's deliveries before
-- starting new enrichments, and that claim is an index range read however long the backlog.
DROP INDEX ix_jobs_queue_status;
CREATE INDEX ix_jobs_queue_status_run_at ON jobs (queue, status, run_at);
