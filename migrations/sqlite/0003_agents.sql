-- Agents: a Standard Webhooks signing secret (encrypted), and per-attempt delivery details.
ALTER TABLE agent_registrations ADD COLUMN signing_secret_encrypted TEXT;
ALTER TABLE agent_runs ADD COLUMN delivery_id TEXT;
ALTER TABLE agent_runs ADD COLUMN error_message TEXT;
CREATE INDEX ix_agent_registrations_active_created ON agent_registrations (is_active, created_at);
