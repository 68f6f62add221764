-- Enrichment engine: per-provider limits, a result cache and rate-limit buckets shared by every
-- process (same columns on both engines; a test compares them).

ALTER TABLE enrichment_providers ADD COLUMN rate_limit_per_minute INTEGER;
ALTER TABLE enrichment_providers ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 4;
ALTER TABLE enrichment_providers ADD COLUMN allow_private_network INTEGER NOT NULL DEFAULT 0;

-- Successful provider results per (provider, type, value), until expires_at.
CREATE TABLE enrichment_cache (
    provider_name TEXT NOT NULL,
    indicator_type TEXT NOT NULL,
    indicator_value TEXT NOT NULL,
    result TEXT NOT NULL,
    cached_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (provider_name, indicator_type, indicator_value)
);
CREATE INDEX ix_enrichment_cache_expires_at ON enrichment_cache (expires_at);

-- Token buckets for provider rate limits; a row per provider, refilled on use.
CREATE TABLE provider_rate_limits (
    provider_name TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    refilled_at TEXT NOT NULL
);

-- System mappings are seeded by every starting process; the index makes that idempotent.
CREATE UNIQUE INDEX uq_indicator_field_mappings_system ON indicator_field_mappings (field_path, extraction_target) WHERE is_system = TRUE;
