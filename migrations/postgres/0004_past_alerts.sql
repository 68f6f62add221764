-- Past alerts: each link carries its alert's occurred_at, so "the newest alerts sharing this
-- indicator" is an index range read per indicator, however many alerts share it.
ALTER TABLE alert_indicators ADD COLUMN alert_occurred_at TIMESTAMPTZ;
UPDATE alert_indicators SET alert_occurred_at = (SELECT occurred_at FROM alerts WHERE alerts.id = alert_indicators.alert_id);
CREATE INDEX ix_alert_indicators_recent ON alert_indicators (indicator_id, alert_occurred_at DESC, alert_id DESC);
-- Alert lists sort by a time column then id: index both, so a page is an index range read even
-- when thousands of alerts share a timestamp.
DROP INDEX ix_alerts_occurred_at;
DROP INDEX ix_alerts_created_at;
CREATE INDEX ix_alerts_occurred_at_id ON alerts (occurred_at DESC, id DESC);
CREATE INDEX ix_alerts_created_at_id ON alerts (created_at DESC, id DESC);
