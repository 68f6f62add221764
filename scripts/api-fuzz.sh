#!/usr/bin/env bash
# Fuzzes the API against its own OpenAPI document with schemathesis (every check): starts a fresh
# `calseta serve` on a temporary SQLite database, with a stand-in model endpoint on loopback for
# `POST /v1/workflows/generate`, runs `st run`, stops both. Needs the debug binary (`cargo build`)
# and schemathesis 4.x (`pip install 'schemathesis==4.32.5'`, the version this was last run with).
# Usage: scripts/api-fuzz.sh [max examples per operation]; 40 takes about two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/calseta"
work="$(mktemp -d)"
port="${CALSETA_FUZZ_PORT:-18199}"
model_port=$((port + 1))
server=""
model=""
trap 'kill $server $model 2>/dev/null || true; rm -rf "$work"' EXIT
# The model endpoint answers every request with one valid workflow (nothing leaves the machine).
python3 - "$model_port" > "$work/model.log" 2>&1 <<'PY' &
import http.server, json, sys
CODE = ("from app.workflows.context import WorkflowContext, WorkflowResult\n\n"
        "async def run(ctx: WorkflowContext) -> WorkflowResult:\n    return WorkflowResult.ok('done')\n")
ANSWER = json.dumps({"content": [{"type": "text", "text": json.dumps({"code": CODE, "suggested_name": "Fuzz"})}]}).encode()
class Model(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(ANSWER)))
        self.end_headers()
        self.wfile.write(ANSWER)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Model).serve_forever()
PY
model=$!
(
  cd "$work"
  RATE_LIMIT_AUTHED_PER_MINUTE=1000000 RATE_LIMIT_INGEST_PER_MINUTE=1000000 \
    RATE_LIMIT_UNAUTHED_PER_MINUTE=1000000 RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE=1000000 \
    ANTHROPIC_API_KEY=fuzz ANTHROPIC_BASE_URL="http://127.0.0.1:$model_port" SSRF_ALLOWED_HOSTS="127.0.0.1:$model_port" \
    exec "$bin" serve --bind "127.0.0.1:$port" 2> serve.err > serve.log
) &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null && break
  sleep 0.1
done
key=$(grep -o 'cai_[A-Za-z0-9_-]*' "$work/serve.err" | head -n 1)
st --config-file scripts/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" -H "Authorization: Bearer $key" \
  --checks all --max-examples "${1:-20}" --workers 2
