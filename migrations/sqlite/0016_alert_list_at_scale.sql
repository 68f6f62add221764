-- The alert list at a million alerts: every filter the list offers alone is served by an index
-- whose entries after the filtered column are the list's order (occurred_at, then id), so a page
-- reads its rows in order and stops at the limit, a cursor's page starts where the cursor points,
-- and a count reads the matching index entries, never the table. (Without them a status filter
-- read every Open alert and sorted them to show fifty; an enrichment-status count read the
-- whole table.) The single-column indexes these extend are dropped: each was a prefix of a new
-- one, and every index costs bytes per alert and work per write.
DROP INDEX ix_alerts_status;
DROP INDEX ix_alerts_severity;
DROP INDEX ix_alerts_source_name;
DROP INDEX ix_alerts_detection_rule_id;
CREATE INDEX ix_alerts_status_occurred_at ON alerts (status, occurred_at, id);
CREATE INDEX ix_alerts_severity_occurred_at ON alerts (severity, occurred_at, id);
CREATE INDEX ix_alerts_source_name_occurred_at ON alerts (source_name, occurred_at, id);
CREATE INDEX ix_alerts_detection_rule_occurred_at ON alerts (detection_rule_id, occurred_at, id);
CREATE INDEX ix_alerts_enrichment_status_occurred_at ON alerts (enrichment_status, occurred_at, id);
CREATE INDEX ix_alerts_is_enriched_occurred_at ON alerts (is_enriched, occurred_at, id);
-- ix_alert_indicators_recent (indicator_id, alert_occurred_at, alert_id) begins with it.
DROP INDEX ix_alert_indicators_indicator_id;

-- An alert's tags, one row each, so that "carries this tag" is an index read rather than a
-- look inside every alert's JSON list. `alerts.tags` stays the source of truth: these rows are
-- derived from it by triggers on every insert and on every change of the list (whatever writes
-- it), and go with their alert.
CREATE TABLE alert_tags (
    tag TEXT NOT NULL,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, alert_id)
) WITHOUT ROWID;
CREATE INDEX ix_alert_tags_alert_id ON alert_tags (alert_id);

-- Only string elements are tags (a filter value is a string, and PostgreSQL's `@>` matched only
-- strings); a list that is not a JSON array has none.
CREATE TRIGGER alert_tags_on_insert AFTER INSERT ON alerts
BEGIN
    INSERT OR IGNORE INTO alert_tags (tag, alert_id)
    SELECT value, NEW.id FROM json_each(CASE WHEN json_valid(NEW.tags) AND json_type(NEW.tags) = 'array' THEN NEW.tags ELSE '[]' END)
    WHERE type = 'text';
END;

CREATE TRIGGER alert_tags_on_update AFTER UPDATE OF tags ON alerts WHEN NEW.tags IS NOT OLD.tags
BEGIN
    DELETE FROM alert_tags WHERE alert_id = NEW.id;
    INSERT OR IGNORE INTO alert_tags (tag, alert_id)
    SELECT value, NEW.id FROM json_each(CASE WHEN json_valid(NEW.tags) AND json_type(NEW.tags) = 'array' THEN NEW.tags ELSE '[]' END)
    WHERE type = 'text';
END;

INSERT OR IGNORE INTO alert_tags (tag, alert_id)
SELECT j.value, a.id FROM alerts a,
    json_each(CASE WHEN json_valid(a.tags) AND json_type(a.tags) = 'array' THEN a.tags ELSE '[]' END) j
WHERE j.type = 'text';
