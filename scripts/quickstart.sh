#!/usr/bin/env bash
# README command 1: set up this host, build, put `strata` on PATH, start the platform on its embedded
# defaults, deploy the bundled static site, and show it answering.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
npm link --no-audit --no-fund >/dev/null 2>&1 || echo "note: npm link failed; use ./bin/strata.js or npx strata"
STRATA="node $(pwd)/bin/strata.js"

if ! $STRATA apps >/dev/null 2>&1; then
  $STRATA up -d
fi
$STRATA deploy examples/static-site
home="${STRATA_HOME:-$([ "$(id -u)" -eq 0 ] && echo /var/lib/strata || echo "$HOME/.strata")}"
port=$(node -e "console.log(require(process.argv[1]).routerPort)" "$home/daemon.json")
url="http://static-site.localhost:${port}/"
echo
echo "==> ${url}"
curl -fsS "$url" | head -n 5
echo
echo "Strata is running. Try: strata versions static-site · strata logs static-site --tail · strata down"
