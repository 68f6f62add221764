-- Workflow secret grants: the names of the workflow secrets a workflow may read (a JSON list, read
-- and replaced whole with the workflow's row), and the code version an admin confirmed them for.
-- A code change by a key without `admin` leaves the confirmed version behind: the grants are not
-- served until an admin confirms the new code. NULL: never confirmed. Nothing is granted to the
-- workflows that exist already (v1 served every secret to every workflow).
ALTER TABLE workflows ADD COLUMN secret_grants TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workflows ADD COLUMN secret_grants_confirmed_version INTEGER;
