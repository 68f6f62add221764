-- The console's alert queue pages by keyset: `(sort key, id) < (cursor)` ordered by the sort key
-- then id. An index on (key, id) answers both the comparison and the order, so any page costs
-- what the first does. (occurred_at, id) and (created_at, id) exist since 0004. Title is not
-- indexed: alert titles have no length limit, and a PostgreSQL B-tree entry does (about
-- 2.7 kB), so an index on it could refuse an ingest.
CREATE INDEX ix_alerts_status_id ON alerts (status, id);
CREATE INDEX ix_alerts_source_name_id ON alerts (source_name, id);
-- Sorting by severity sorts by its rank; the expression is the one the queue's query uses.
CREATE INDEX ix_alerts_severity_rank_id ON alerts ((CASE severity WHEN 'Critical' THEN 5 WHEN 'High' THEN 4 WHEN 'Medium' THEN 3 WHEN 'Low' THEN 2 WHEN 'Informational' THEN 1 ELSE 0 END), id);
-- The queue's usual filter (status and severity, newest first): its count and its pages read
-- this index alone. Measured at 100,000 alerts on SQLite: the count went from 62 ms to 1 ms and
-- the first page from 67 ms to under 1 ms (the planner had chosen the status index and sorted).
CREATE INDEX ix_alerts_status_severity_occurred_at ON alerts (status, severity, occurred_at, id);
