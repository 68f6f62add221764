-- Calseta schema (SQLite). Column names match migrations/postgres/0001_initial.sql exactly;
-- a test compares both. Lists and objects are JSON text, timestamps RFC 3339 UTC text, UUIDs 16-byte blobs.

CREATE TABLE detection_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    source_rule_id TEXT,
    source_name TEXT,
    severity TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    mitre_tactics TEXT NOT NULL DEFAULT '[]',
    mitre_techniques TEXT NOT NULL DEFAULT '[]',
    mitre_subtechniques TEXT NOT NULL DEFAULT '[]',
    data_sources TEXT NOT NULL DEFAULT '[]',
    run_frequency TEXT,
    created_by TEXT,
    documentation TEXT,
    is_system INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX uq_detection_rules_source_rule ON detection_rules (source_name, source_rule_id);

CREATE TABLE source_integrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    source_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    auth_type TEXT,
    auth_config TEXT,
    documentation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE context_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    title TEXT NOT NULL,
    document_type TEXT NOT NULL,
    is_global INTEGER NOT NULL DEFAULT 0,
    targeting_rules TEXT,
    description TEXT,
    content TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    is_system INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    workflow_type TEXT,
    indicator_types TEXT NOT NULL DEFAULT '[]',
    code TEXT NOT NULL,
    code_version INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL DEFAULT 'draft',
    timeout_seconds INTEGER NOT NULL DEFAULT 300,
    retry_count INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    is_system INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '[]',
    time_saved_minutes INTEGER,
    approval_mode TEXT NOT NULL DEFAULT 'always',
    approval_channel TEXT,
    approval_timeout_seconds INTEGER NOT NULL DEFAULT 3600,
    risk_level TEXT NOT NULL DEFAULT 'medium',
    documentation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE agent_registrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    endpoint_url TEXT NOT NULL,
    auth_header_name TEXT,
    auth_header_value_encrypted TEXT,
    trigger_on_sources TEXT NOT NULL DEFAULT '[]',
    trigger_on_severities TEXT NOT NULL DEFAULT '[]',
    trigger_filter TEXT,
    timeout_seconds INTEGER NOT NULL DEFAULT 30,
    retry_count INTEGER NOT NULL DEFAULT 3,
    is_active INTEGER NOT NULL DEFAULT 1,
    documentation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT ck_agent_auth_header_pair CHECK (
        (auth_header_name IS NULL AND auth_header_value_encrypted IS NULL)
        OR (auth_header_name IS NOT NULL AND auth_header_value_encrypted IS NOT NULL))
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    name TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL DEFAULT '[]',
    is_active INTEGER NOT NULL DEFAULT 1,
    expires_at TEXT,
    last_used_at TEXT,
    allowed_sources TEXT,
    key_type TEXT NOT NULL DEFAULT 'human',
    is_system INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_api_keys_active_created ON api_keys (is_active, created_at);

CREATE TABLE indicator_field_mappings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    source_name TEXT,
    field_path TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    extraction_target TEXT NOT NULL DEFAULT 'normalized',
    is_system INTEGER NOT NULL DEFAULT 1,
    is_active INTEGER NOT NULL DEFAULT 1,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE enrichment_providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    provider_name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT,
    is_builtin INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 1,
    supported_indicator_types TEXT NOT NULL DEFAULT '[]',
    http_config TEXT NOT NULL,
    auth_type TEXT NOT NULL DEFAULT 'no_auth',
    auth_config TEXT,
    env_var_mapping TEXT,
    default_cache_ttl_seconds INTEGER NOT NULL DEFAULT 3600,
    cache_ttl_by_type TEXT,
    malice_rules TEXT,
    mock_responses TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT uq_enrichment_provider_name UNIQUE (provider_name)
);
CREATE INDEX ix_enrichment_providers_is_active ON enrichment_providers (is_active);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    severity TEXT NOT NULL DEFAULT 'Pending',
    source_name TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    source_time TEXT,
    ingested_at TEXT NOT NULL,
    enriched_at TEXT,
    is_enriched INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT,
    duplicate_count INTEGER NOT NULL DEFAULT 0,
    last_seen_at TEXT,
    status TEXT NOT NULL DEFAULT 'Open',
    enrichment_status TEXT NOT NULL DEFAULT 'Pending',
    close_classification TEXT,
    acknowledged_at TEXT,
    triaged_at TEXT,
    closed_at TEXT,
    malice_override TEXT,
    malice_override_source TEXT,
    malice_override_at TEXT,
    -- The payload exactly as received (key order, number spelling), returned verbatim.
    raw_payload TEXT NOT NULL DEFAULT '{}',
    agent_findings TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    is_system INTEGER NOT NULL DEFAULT 0,
    detection_rule_id INTEGER REFERENCES detection_rules (id) ON DELETE SET NULL,
    close_notes TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_alerts_fingerprint_created_at ON alerts (fingerprint, created_at DESC);
CREATE INDEX ix_alerts_status ON alerts (status);
CREATE INDEX ix_alerts_severity ON alerts (severity);
CREATE INDEX ix_alerts_occurred_at ON alerts (occurred_at DESC);
CREATE INDEX ix_alerts_created_at ON alerts (created_at DESC);
CREATE INDEX ix_alerts_detection_rule_id ON alerts (detection_rule_id);
CREATE INDEX ix_alerts_source_name ON alerts (source_name);

CREATE TABLE indicators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    is_enriched INTEGER NOT NULL DEFAULT 0,
    malice TEXT NOT NULL DEFAULT 'Pending',
    malice_source TEXT NOT NULL DEFAULT 'enrichment',
    malice_overridden_at TEXT,
    enrichment_results TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT uq_indicator_type_value UNIQUE (type, value)
);

CREATE TABLE alert_indicators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    indicator_id INTEGER NOT NULL REFERENCES indicators (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT uq_alert_indicator UNIQUE (alert_id, indicator_id)
);
CREATE INDEX ix_alert_indicators_indicator_id ON alert_indicators (indicator_id);

CREATE TABLE enrichment_field_extractions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    provider_name TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    source_path TEXT NOT NULL,
    target_key TEXT NOT NULL,
    value_type TEXT NOT NULL DEFAULT 'string',
    is_system INTEGER NOT NULL DEFAULT 1,
    is_active INTEGER NOT NULL DEFAULT 1,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT uq_enrichment_extraction_provider_type_path UNIQUE (provider_name, indicator_type, source_path)
);

CREATE TABLE activity_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_key_prefix TEXT,
    alert_id INTEGER REFERENCES alerts (id) ON DELETE SET NULL,
    workflow_id INTEGER REFERENCES workflows (id) ON DELETE SET NULL,
    detection_rule_id INTEGER REFERENCES detection_rules (id) ON DELETE SET NULL,
    "references" TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX ix_activity_events_alert_created ON activity_events (alert_id, created_at DESC);
CREATE INDEX ix_activity_events_workflow_id ON activity_events (workflow_id);
CREATE INDEX ix_activity_events_created_at ON activity_events (created_at DESC);

CREATE TABLE workflow_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    workflow_id INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    trigger_type TEXT NOT NULL,
    trigger_context TEXT,
    code_version_executed INTEGER NOT NULL,
    log_output TEXT,
    result TEXT,
    status TEXT NOT NULL DEFAULT 'queued',
    attempt_count INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    started_at TEXT,
    completed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_workflow_runs_workflow_created ON workflow_runs (workflow_id, created_at DESC);
CREATE INDEX ix_workflow_runs_created_at ON workflow_runs (created_at DESC);

CREATE TABLE workflow_approval_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    workflow_id INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    workflow_run_id INTEGER REFERENCES workflow_runs (id) ON DELETE SET NULL,
    trigger_type TEXT NOT NULL,
    trigger_agent_key_prefix TEXT NOT NULL,
    trigger_context TEXT,
    reason TEXT NOT NULL DEFAULT '',
    confidence REAL NOT NULL DEFAULT 0,
    notifier_type TEXT NOT NULL DEFAULT 'none',
    notifier_channel TEXT,
    external_message_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    responder_id TEXT,
    responded_at TEXT,
    expires_at TEXT NOT NULL,
    execution_result TEXT,
    decide_token_digest TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_workflow_approval_requests_status_expires ON workflow_approval_requests (status, expires_at);
CREATE INDEX ix_workflow_approval_requests_workflow_id ON workflow_approval_requests (workflow_id);

CREATE TABLE workflow_code_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow_id INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    code TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
CREATE INDEX ix_workflow_code_versions_workflow_id ON workflow_code_versions (workflow_id);

CREATE TABLE agent_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    agent_registration_id INTEGER NOT NULL REFERENCES agent_registrations (id) ON DELETE CASCADE,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    request_payload TEXT,
    response_status_code INTEGER,
    response_body TEXT,
    status TEXT NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    started_at TEXT,
    completed_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_agent_runs_agent_created ON agent_runs (agent_registration_id, created_at DESC);
CREATE INDEX ix_agent_runs_alert_id ON agent_runs (alert_id);

-- Durable jobs: enqueued in the caller's transaction, claimed with a lease.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid BLOB NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    queue TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    lease_token BLOB,
    lease_expires_at TEXT,
    last_error TEXT,
    finished_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX ix_jobs_status_run_at ON jobs (status, run_at);
CREATE INDEX ix_jobs_status_lease ON jobs (status, lease_expires_at);
CREATE INDEX ix_jobs_queue_status ON jobs (queue, status);

-- One-time facts about this installation (e.g. that the bootstrap admin key was issued).
CREATE TABLE calseta_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at TEXT NOT NULL
);
