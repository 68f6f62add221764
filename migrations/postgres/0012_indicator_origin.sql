-- Where each of an alert's indicators came from: the field path extraction found it at and the
-- pass that found it (`source_plugin`, `normalized_mappings`, `raw_payload_mappings`, `free_text`,
-- or `manual` for one added through REST or the console). The first origin recorded for a link
-- is kept. Links made before this migration have none (NULL). `origin_decoder` is reserved for
-- the decoder that revealed a value inside an encoded field (a later change); NULL until then.
ALTER TABLE alert_indicators ADD COLUMN origin_field TEXT;
ALTER TABLE alert_indicators ADD COLUMN origin_pass TEXT;
ALTER TABLE alert_indicators ADD COLUMN origin_decoder TEXT;
