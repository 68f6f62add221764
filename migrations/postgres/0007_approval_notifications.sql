-- Slack interactive callbacks already accepted, by signature digest: each signed request is
-- accepted once within its five-minute window (a replay of a captured callback decides nothing).
CREATE TABLE slack_callback_signatures (
    signature_digest TEXT PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_slack_callback_signatures_received_at ON slack_callback_signatures (received_at);

-- The channel the approval message was posted in (Slack answers with its id), so that the
-- decision and the result reach the same thread.
ALTER TABLE workflow_approval_requests ADD COLUMN external_channel_id TEXT;
