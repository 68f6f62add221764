-- The payload an agent receives: `full` (v1's shape plus Calseta's additions) or `compact` (the
-- same facts without repetition).
ALTER TABLE agent_registrations ADD COLUMN payload_profile TEXT NOT NULL DEFAULT 'full';
