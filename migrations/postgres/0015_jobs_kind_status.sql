-- An alert's pending deliveries (the console's alert page) are the queued or running jobs of the
-- two delivery kinds: with this index they are a few seeks, not a scan of every queued job (with
-- 100,000 enrichments queued the scan made the alert page ~45 ms).
CREATE INDEX ix_jobs_kind_status_run_at ON jobs (kind, status, run_at);
