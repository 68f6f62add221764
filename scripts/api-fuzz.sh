#!/usr/bin/env bash
# Fuzzes the API against its own OpenAPI document with schemathesis (every check): starts a fresh
# `calseta serve` on a temporary SQLite database, runs `st run`, stops the server. Needs the debug
# binary (`cargo build`) and `pip install schemathesis`. Usage: scripts/api-fuzz.sh [max examples]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/calseta"
work="$(mktemp -d)"
port="${CALSETA_FUZZ_PORT:-18199}"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
(
  cd "$work"
  RATE_LIMIT_AUTHED_PER_MINUTE=1000000 RATE_LIMIT_INGEST_PER_MINUTE=1000000 \
    RATE_LIMIT_UNAUTHED_PER_MINUTE=1000000 RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE=1000000 exec "$bin" serve --bind "127.0.0.1:$port" 2> serve.err > serve.log
) &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.1
done
key=$(grep -o 'cai_[A-Za-z0-9_-]*' "$work/serve.err" | head -n 1)
st --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $key" \
  --checks all --max-examples "${1:-20}" --workers 2
