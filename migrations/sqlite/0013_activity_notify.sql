-- The console's live feed. On PostgreSQL this migration adds a trigger that notifies every
-- process of new activity events. SQLite has no notifications: a process learns of its own
-- events when it commits them, and of other processes' events on the same file by polling the
-- log, so there is nothing to change here. (A migration per version keeps both engines' version
-- lists equal.)
SELECT 1;
