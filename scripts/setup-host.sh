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
  lxc
  mmdebstrap uidmap skopeo umoci buildah podman fuse-overlayfs slirp4netns
  busybox-static
  lxd
  golang-go
  clang lld wasi-libc
  wrk caddy nginx-light
  qemu-system-x86 e2fsprogs # microvm driver: the VMM, mkfs.ext4 -d for root disks
  make gcc libc6-dev flex bison bc libelf-dev libssl-dev xz-utils # building the guest kernel (scripts/guest-kernel.sh)
  python3 # tests only: raw frames through a tap and AF_PACKET (source-guard), a real zombie
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

# gVisor's runsc at a pinned version, built from gVisor's Go module (its `go` branch, which gVisor documents
# as an install path): Debian 12's runsc (2022) has only the ptrace platform, this one has systrap (gVisor's
# default since 2023; about 5x faster per system call, see bench/gvisor.ts). The driver prefers it over
# /usr/bin/runsc (src/sandbox/gvisor/runsc.ts). The module's hash is pinned, and its go.sum pins every
# dependency, so no checksum database is needed. Building takes about 3.5 minutes on 2 cores. Without the
# Go module proxy or a Go >= 1.21 (for GOTOOLCHAIN), Debian's runsc stays in use, on ptrace.
RUNSC_MODULE=gvisor.dev/gvisor
RUNSC_VERSION=v0.0.0-20260905035102-160fafc42237 # the go branch on 2026-09-05
RUNSC_SUM="h1:AU5+CtCvnBnxdZRNcZt1NfSLqgkXZVT3N/u6u1aXg44="
RUNSC_GO=go1.26.8 # the toolchain that builds it (the module needs >= 1.26.3); fetched through the proxy if missing
RUNSC_DIR=/usr/local/lib/strata/bin
build_runsc() {
  local go tmp sum
  go="$(command -v /usr/local/go/bin/go go 2>/dev/null | head -n1)" || return 1
  # GOTOOLCHAIN (a pinned toolchain from the proxy) exists since Go 1.21; Debian 12's golang-go is 1.19.
  "$go" env GOTOOLCHAIN >/dev/null 2>&1 && [ -n "$("$go" env GOTOOLCHAIN)" ] || { echo "    $go is older than Go 1.21"; return 1; }
  tmp="$(mktemp -d)"
  # The build's own GOPATH and cache, removed after: nothing of it stays on the host but the binary.
  local -x GOPATH="$tmp/gopath" GOCACHE="$tmp/cache" GOBIN="$tmp/bin" GOFLAGS=-modcacherw
  local -x GOPROXY=https://proxy.golang.org GOSUMDB=off GOTOOLCHAIN="$RUNSC_GO" CGO_ENABLED=0
  sum="$("$go" mod download -json "$RUNSC_MODULE@$RUNSC_VERSION" | sed -n 's/^\t"Sum": "\(.*\)",$/\1/p')" &&
    { [ "$sum" = "$RUNSC_SUM" ] || { echo "    $RUNSC_MODULE@$RUNSC_VERSION has hash $sum, not the pinned $RUNSC_SUM"; false; }; } &&
    "$go" install -trimpath -ldflags "-X gvisor.dev/gvisor/runsc/version.version=$RUNSC_VERSION" "$RUNSC_MODULE/runsc@$RUNSC_VERSION" &&
    mkdir -p "$RUNSC_DIR" && install -m 0755 "$GOBIN/runsc" "$RUNSC_DIR/runsc.new" && mv -f "$RUNSC_DIR/runsc.new" "$RUNSC_DIR/runsc"
  local ok=$?
  rm -rf "$tmp"
  return $ok
}
if "$RUNSC_DIR/runsc" --version 2>/dev/null | grep -qx "runsc version $RUNSC_VERSION"; then
  : # the pinned runsc is installed
else
  echo "==> building gVisor's runsc $RUNSC_VERSION from the Go module proxy (a few minutes)"
  if ! build_runsc; then
    echo "==> could not build runsc $RUNSC_VERSION: the gVisor driver falls back to Debian's runsc (/usr/bin/runsc, ptrace platform)"
  fi
fi

# Rust (cargo) for the test fixture of `provided` functions, a function on the lambda_runtime crate
# (test/fixtures/functions/rust-hello): Debian 12's cargo (1.65) is older than the crate's dependencies
# need, so rustup's stable toolchain goes to ~/.cargo. Strata itself needs no Rust: users bring a bootstrap.
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "==> installing Rust with rustup (stable, minimal profile) for the Rust function test fixture"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path ||
    echo "==> could not install Rust: the Rust function tests skip, saying so"
fi

# The VM-class drivers' guest kernel, built from Debian's linux-source-6.1 (10-11 min on 2 cores, once).
if ! scripts/guest-kernel.sh; then
  echo "==> could not build the guest kernel: the VM-class drivers stay unavailable (strata doctor says why)"
fi

# A pool of huge pages for microVM guest RAM (src/sandbox/guest/hugepages.ts: on a host that hands its free
# memory back to its own hypervisor, fresh memory for a VM restored after idle cost 300-550 ms more). Grown
# to STRATA_HUGEPAGES_MB (default 1024; 0: none), never shrunk; guests that do not fit use anonymous memory.
HUGEPAGES_MB="${STRATA_HUGEPAGES_MB:-1024}"
page_kb="$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)"
if [ "$HUGEPAGES_MB" -gt 0 ] && [ -n "$page_kb" ]; then
  want=$(( HUGEPAGES_MB * 1024 / page_kb ))
  if [ "$(cat /proc/sys/vm/nr_hugepages)" -lt "$want" ]; then
    echo "==> reserving $HUGEPAGES_MB MiB of huge pages for microVM guest RAM"
    echo "$want" > /proc/sys/vm/nr_hugepages || true
    got="$(cat /proc/sys/vm/nr_hugepages)"
    [ "$got" -ge "$want" ] || echo "    the kernel gave $got of $want pages (memory too fragmented): guests that do not fit use anonymous memory"
  fi
  if ! awk '$3 == "hugetlbfs" {found=1} END {exit !found}' /proc/mounts; then
    mkdir -p /dev/hugepages && mount -t hugetlbfs -o "pagesize=${page_kb}K" hugetlbfs /dev/hugepages
  fi
fi

# npm dependencies (native modules build here: package.json allowScripts approves their install scripts).
# A symlinked node_modules (a git worktree sharing the main checkout's) is left to its owner: npm ci
# through it would empty the directory it points to.
if [ -L node_modules ]; then
  : # shared with another checkout
elif [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> installing npm dependencies"
  npm ci --no-audit --no-fund
fi
node -e "require('better-sqlite3')" 2>/dev/null || { echo "==> building better-sqlite3"; npm rebuild better-sqlite3; }

echo "==> building Strata"
npm run --silent build
