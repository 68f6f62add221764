-- Workflow secrets: values workflows read as ctx.secrets["NAME"], encrypted at rest.
CREATE TABLE workflow_secrets (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    value_encrypted TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- A builtin workflow exists once, however many processes seed at the same time.
CREATE UNIQUE INDEX ux_workflows_system_name ON workflows (name) WHERE is_system;
