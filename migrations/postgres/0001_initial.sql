-- Calseta schema (PostgreSQL). Column names match migrations/sqlite/0001_initial.sql exactly;
-- a test compares both. Lists are JSONB arrays (no PG arrays), timestamps TIMESTAMPTZ.

CREATE TABLE detection_rules (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source_rule_id TEXT,
    source_name TEXT,
    severity TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    mitre_tactics JSONB NOT NULL DEFAULT '[]',
    mitre_techniques JSONB NOT NULL DEFAULT '[]',
    mitre_subtechniques JSONB NOT NULL DEFAULT '[]',
    data_sources JSONB NOT NULL DEFAULT '[]',
    run_frequency TEXT,
    created_by TEXT,
    documentation TEXT,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX uq_detection_rules_source_rule ON detection_rules (source_name, source_rule_id);

CREATE TABLE source_integrations (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    source_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    auth_type TEXT,
    auth_config JSONB,
    documentation TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE context_documents (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    title TEXT NOT NULL,
    document_type TEXT NOT NULL,
    is_global BOOLEAN NOT NULL DEFAULT FALSE,
    targeting_rules JSONB,
    description TEXT,
    content TEXT NOT NULL,
    tags JSONB NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE workflows (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    name TEXT NOT NULL,
    workflow_type TEXT,
    indicator_types JSONB NOT NULL DEFAULT '[]',
    code TEXT NOT NULL,
    code_version INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'draft',
    timeout_seconds INTEGER NOT NULL DEFAULT 300,
    retry_count INTEGER NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    tags JSONB NOT NULL DEFAULT '[]',
    time_saved_minutes INTEGER,
    approval_mode TEXT NOT NULL DEFAULT 'always',
    approval_channel TEXT,
    approval_timeout_seconds INTEGER NOT NULL DEFAULT 3600,
    risk_level TEXT NOT NULL DEFAULT 'medium',
    documentation TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE agent_registrations (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    endpoint_url TEXT NOT NULL,
    auth_header_name TEXT,
    auth_header_value_encrypted TEXT,
    trigger_on_sources JSONB NOT NULL DEFAULT '[]',
    trigger_on_severities JSONB NOT NULL DEFAULT '[]',
    trigger_filter JSONB,
    timeout_seconds INTEGER NOT NULL DEFAULT 30,
    retry_count INTEGER NOT NULL DEFAULT 3,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    documentation TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT ck_agent_auth_header_pair CHECK (
        (auth_header_name IS NULL AND auth_header_value_encrypted IS NULL)
        OR (auth_header_name IS NOT NULL AND auth_header_value_encrypted IS NOT NULL))
);

CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes JSONB NOT NULL DEFAULT '[]',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    allowed_sources JSONB,
    key_type TEXT NOT NULL DEFAULT 'human',
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_api_keys_active_created ON api_keys (is_active, created_at);

CREATE TABLE indicator_field_mappings (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    source_name TEXT,
    field_path TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    extraction_target TEXT NOT NULL DEFAULT 'normalized',
    is_system BOOLEAN NOT NULL DEFAULT TRUE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE enrichment_providers (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    provider_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    is_builtin BOOLEAN NOT NULL DEFAULT FALSE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    supported_indicator_types JSONB NOT NULL DEFAULT '[]',
    http_config JSONB NOT NULL,
    auth_type TEXT NOT NULL DEFAULT 'no_auth',
    auth_config JSONB,
    env_var_mapping JSONB,
    default_cache_ttl_seconds INTEGER NOT NULL DEFAULT 3600,
    cache_ttl_by_type JSONB,
    malice_rules JSONB,
    mock_responses JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_enrichment_provider_name UNIQUE (provider_name)
);
CREATE INDEX ix_enrichment_providers_is_active ON enrichment_providers (is_active);

CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    severity TEXT NOT NULL DEFAULT 'Pending',
    source_name TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    source_time TIMESTAMPTZ,
    ingested_at TIMESTAMPTZ NOT NULL,
    enriched_at TIMESTAMPTZ,
    is_enriched BOOLEAN NOT NULL DEFAULT FALSE,
    fingerprint TEXT,
    duplicate_count INTEGER NOT NULL DEFAULT 0,
    last_seen_at TIMESTAMPTZ,
    status TEXT NOT NULL DEFAULT 'Open',
    enrichment_status TEXT NOT NULL DEFAULT 'Pending',
    close_classification TEXT,
    acknowledged_at TIMESTAMPTZ,
    triaged_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    malice_override TEXT,
    malice_override_source TEXT,
    malice_override_at TIMESTAMPTZ,
    -- The payload exactly as received (key order, number spelling), returned verbatim.
    raw_payload TEXT NOT NULL DEFAULT '{}',
    agent_findings JSONB,
    tags JSONB NOT NULL DEFAULT '[]',
    is_system BOOLEAN NOT NULL DEFAULT FALSE,
    detection_rule_id BIGINT REFERENCES detection_rules (id) ON DELETE SET NULL,
    close_notes TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_alerts_fingerprint_created_at ON alerts (fingerprint, created_at DESC);
CREATE INDEX ix_alerts_status ON alerts (status);
CREATE INDEX ix_alerts_severity ON alerts (severity);
CREATE INDEX ix_alerts_occurred_at ON alerts (occurred_at DESC);
CREATE INDEX ix_alerts_created_at ON alerts (created_at DESC);
CREATE INDEX ix_alerts_detection_rule_id ON alerts (detection_rule_id);
CREATE INDEX ix_alerts_source_name ON alerts (source_name);

CREATE TABLE indicators (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    is_enriched BOOLEAN NOT NULL DEFAULT FALSE,
    malice TEXT NOT NULL DEFAULT 'Pending',
    malice_source TEXT NOT NULL DEFAULT 'enrichment',
    malice_overridden_at TIMESTAMPTZ,
    enrichment_results JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_indicator_type_value UNIQUE (type, value)
);

CREATE TABLE alert_indicators (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    indicator_id BIGINT NOT NULL REFERENCES indicators (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_alert_indicator UNIQUE (alert_id, indicator_id)
);
CREATE INDEX ix_alert_indicators_indicator_id ON alert_indicators (indicator_id);

CREATE TABLE enrichment_field_extractions (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    provider_name TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    source_path TEXT NOT NULL,
    target_key TEXT NOT NULL,
    value_type TEXT NOT NULL DEFAULT 'string',
    is_system BOOLEAN NOT NULL DEFAULT TRUE,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT uq_enrichment_extraction_provider_type_path UNIQUE (provider_name, indicator_type, source_path)
);

CREATE TABLE activity_events (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_key_prefix TEXT,
    alert_id BIGINT REFERENCES alerts (id) ON DELETE SET NULL,
    workflow_id BIGINT REFERENCES workflows (id) ON DELETE SET NULL,
    detection_rule_id BIGINT REFERENCES detection_rules (id) ON DELETE SET NULL,
    "references" JSONB,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_activity_events_alert_created ON activity_events (alert_id, created_at DESC);
CREATE INDEX ix_activity_events_workflow_id ON activity_events (workflow_id);
CREATE INDEX ix_activity_events_created_at ON activity_events (created_at DESC);

CREATE TABLE workflow_runs (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    workflow_id BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    trigger_type TEXT NOT NULL,
    trigger_context JSONB,
    code_version_executed INTEGER NOT NULL,
    log_output TEXT,
    result JSONB,
    status TEXT NOT NULL DEFAULT 'queued',
    attempt_count INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_workflow_runs_workflow_created ON workflow_runs (workflow_id, created_at DESC);
CREATE INDEX ix_workflow_runs_created_at ON workflow_runs (created_at DESC);

CREATE TABLE workflow_approval_requests (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    workflow_id BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    workflow_run_id BIGINT REFERENCES workflow_runs (id) ON DELETE SET NULL,
    trigger_type TEXT NOT NULL,
    trigger_agent_key_prefix TEXT NOT NULL,
    trigger_context JSONB,
    reason TEXT NOT NULL DEFAULT '',
    confidence DOUBLE PRECISION NOT NULL DEFAULT 0,
    notifier_type TEXT NOT NULL DEFAULT 'none',
    notifier_channel TEXT,
    external_message_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    responder_id TEXT,
    responded_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ NOT NULL,
    execution_result JSONB,
    decide_token_digest TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_workflow_approval_requests_status_expires ON workflow_approval_requests (status, expires_at);
CREATE INDEX ix_workflow_approval_requests_workflow_id ON workflow_approval_requests (workflow_id);

CREATE TABLE workflow_code_versions (
    id BIGSERIAL PRIMARY KEY,
    workflow_id BIGINT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    code TEXT NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_workflow_code_versions_workflow_id ON workflow_code_versions (workflow_id);

CREATE TABLE agent_runs (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    agent_registration_id BIGINT NOT NULL REFERENCES agent_registrations (id) ON DELETE CASCADE,
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    request_payload JSONB,
    response_status_code INTEGER,
    response_body JSONB,
    status TEXT NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_agent_runs_agent_created ON agent_runs (agent_registration_id, created_at DESC);
CREATE INDEX ix_agent_runs_alert_id ON agent_runs (alert_id);

-- Durable jobs: enqueued in the caller's transaction, claimed with a lease.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    uuid UUID NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload JSONB NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TIMESTAMPTZ NOT NULL,
    lease_token UUID,
    lease_expires_at TIMESTAMPTZ,
    last_error TEXT,
    finished_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ix_jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX ix_jobs_status_lease ON jobs (status, lease_expires_at);
CREATE INDEX ix_jobs_queue_status ON jobs (queue, status);

-- One-time facts about this installation (e.g. that the bootstrap admin key was issued).
CREATE TABLE calseta_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
