#!/usr/bin/env bash
# README command 2 (npm test): set up the host if needed, build, then run every unit and end-to-end test.
# Files run one at a time: end-to-end tests start real daemons, sandboxes and network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
# The build compiles src/; tests and benchmarks are type-checked too (tsx runs them without checking).
echo "==> type-checking tests and benchmarks"
npx tsc -p tsconfig.check.json
# The layer arrows of docs/ARCHITECTURE.md (.dependency-cruiser.cjs): a forbidden import fails here.
echo "==> checking layer dependencies"
npm run --silent depcheck
# Base images first, with their own time budget: no test's clock includes a bootstrap.
node --import tsx test/prepare-images.ts
mapfile -t files < <(find test/unit test/e2e -name '*.test.ts' 2>/dev/null | sort)
# A test that hangs fails after 20 minutes instead of holding CI; a file whose tests have ended exits even if
# it left a handle open (host-leftovers.ts below then names any process, netns, link or mount it left).
# What is on the host before the first file runs is not the suite's (see host-leftovers.ts).
host_before=$(mktemp /tmp/host-before.XXXXXX)
trap 'rm -f "$host_before"' EXIT
node --import tsx test/host-leftovers.ts record "$host_before"
rc=0
node --import tsx --test --test-concurrency=1 --test-timeout=1200000 --test-force-exit --test-reporter=spec "$@" "${files[@]}" || rc=$?
node --import tsx test/host-leftovers.ts check "$host_before" || rc=1
exit "$rc"
