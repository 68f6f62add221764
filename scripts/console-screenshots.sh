#!/usr/bin/env bash
# Screenshots of the console for docs/console.md: starts the server in sandbox mode with the
# case-study alerts, signs in with the demo key in headless Chromium and saves a PNG of every page
# (and the queue and an alert at a phone's width, and in the dark theme) into docs/console/.
# Needs chromium and chromium-driver (apt-get install chromium chromium-driver).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/console}"
mkdir -p "$out"
CALSETA_SCREENSHOTS_DIR="$(cd "$out" && pwd)" \
  cargo test -p calseta --test it -- --exact console_browser::console_browser_screenshots_of_every_page \
    console_documents::console_documents_browser_screenshots --nocapture
ls -1 "$out"/*.png
