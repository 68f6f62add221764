-- The console's live feed: every statement that inserts activity events notifies the
-- `calseta_activity` channel. PostgreSQL delivers the notification when the transaction commits
-- (and not at all if it rolls back), to every process listening, so an event written by one API
-- process reaches consoles connected to another at once. Identical notifications of one
-- transaction are folded into one; the payload is empty because listeners read the log itself.
CREATE FUNCTION calseta_activity_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('calseta_activity', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER activity_events_notify
    AFTER INSERT ON activity_events
    FOR EACH STATEMENT EXECUTE FUNCTION calseta_activity_notify();
