#!/usr/bin/env bash
# Installs what Strata needs on a Debian 12 host, then the npm dependencies, then builds. Idempotent:
# apt runs (one `apt-get update`, then one install) only when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Sandbox runtimes, image tools, networking, and the peers the benchmarks compare against.
PACKAGES=(
  ca-certificates curl tar gzip xz-utils procps psmisc util-linux attr
  iproute2 iptables nftables
  runc crun runsc conmon
  mmdebstrap uidmap skopeo umoci buildah podman fuse-overlayfs slirp4netns
  busybox-static
  golang-go
  clang lld wasi-libc
  wrk caddy nginx-light
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing host packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts nginx on install; Strata only runs it for the benchmark, on a port of its own.
  if command -v service >/dev/null && pgrep -x nginx >/dev/null; then $SUDO service nginx stop >/dev/null 2>&1 || true; fi
fi

# npm dependencies (native modules build here: package.json allowScripts approves their install scripts).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing npm dependencies"
  npm ci --no-audit --no-fund
fi
node -e "require('better-sqlite3')" 2>/dev/null || { echo "==> building better-sqlite3"; npm rebuild better-sqlite3; }

echo "==> building Strata"
npm run --silent build
