#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/img/*.png) with headless
# Chromium: the e2e test that checks every page at 375 px in light and dark
# mode also photographs the login page and /demo showing the claims.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/img
LATCHKEY_SCREENSHOTS="$PWD/docs/img" go test ./e2e -run '^TestPagesInChromium$' -count=1
ls -l docs/img/*.png
