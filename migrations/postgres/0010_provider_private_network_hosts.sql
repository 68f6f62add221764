-- A provider's private-network allowance narrowed to hosts or host:port entries (a JSON list of
-- strings such as "10.0.0.5:8443" or "intel.internal"). Empty: `allow_private_network` allows
-- every private host and port, as before.
ALTER TABLE enrichment_providers ADD COLUMN private_network_hosts JSONB NOT NULL DEFAULT '[]';
