#!/usr/bin/env bash
# The guest kernel of Strata's VM-class sandboxes (src/sandbox/guest/assets.ts): Debian's linux-source-6.1
# built with Debian's cloud-amd64 config (linux-config-6.1, the same version) and scripts/guest-kernel.config
# merged over it, into /usr/local/lib/strata/guest/<release>/: an uncompressed PVH `vmlinux` (QEMU's
# microvm and Firecracker boot it directly; a compressed bzImage boots about 3x slower under TCG) and its
# config. No modules: the guest's drivers are built in. Idempotent: quick when this source version and
# config fragment are already built. A clean build is 1910 files, 10 min on 2 cores.
set -euo pipefail
GUEST_DIR=/usr/local/lib/strata/guest
fragment="$(cd "$(dirname "$0")" && pwd)/guest-kernel.config"
version="$(apt-cache policy linux-source-6.1 2>/dev/null | awk '/Candidate:/{print $2}')"
config_version="$(apt-cache policy linux-config-6.1 2>/dev/null | awk '/Candidate:/{print $2}')"
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
  echo "    linux-source-6.1 is not known to apt (run apt-get update)"; exit 1
fi
if [ "$config_version" != "$version" ]; then
  echo "    linux-config-6.1 is at ${config_version:-nothing}, linux-source-6.1 at $version: apt's lists are mid-update (run apt-get update)"; exit 1
fi
# The release (the guest's `uname -r` too) names the source version, Debian's revision and the fragment's
# settings (not its comments), so a change to any of them builds a new kernel.
localversion="-${version##*-}-strata-$(grep -E '^(# )?CONFIG_' "$fragment" | sha256sum | cut -c1-8)"
release="${version%-*}$localversion"
dest="$GUEST_DIR/$release"
if [ -f "$dest/vmlinux" ]; then
  ln -sfn "$release" "$GUEST_DIR/current"
  exit 0
fi
work="$(mktemp -d /var/tmp/strata-guest-kernel.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "==> guest kernel: downloading linux-source-6.1 and linux-config-6.1 $version"
(cd "$work" && apt-get download -q "linux-source-6.1=$version" "linux-config-6.1=$version" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
for p in linux-source-6.1 linux-config-6.1; do
  ls "$work/${p}_"*.deb > /dev/null 2>&1 || { echo "    could not download $p $version"; exit 1; }
  dpkg-deb -x "$work/${p}_"*.deb "$work/pkg"
done
echo "==> guest kernel: unpacking the source"
tar -xJf "$work/pkg/usr/src/linux-source-6.1.tar.xz" -C "$work"
src="$work/linux-source-6.1"
# Debian's modules are dropped, not kept: with CONFIG_MODULES off Kconfig would build every `=m` in (1119 of them).
xz -dc "$work/pkg/usr/src/linux-config-6.1/config.amd64_none_cloud-amd64.xz" |
  sed -E 's/^(CONFIG_[A-Za-z0-9_]+)=m$/# \1 is not set/' > "$src/.config"
(cd "$src" && scripts/kconfig/merge_config.sh -m .config "$fragment" > "$work/merge.log" && make -s olddefconfig)
# Kconfig drops a line whose dependencies are unmet without a word: every line of the fragment must hold.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) grep -qxF "$line" "$src/.config" || { echo "    the guest kernel's config lost: $line"; missing=1; } ;;
    "# CONFIG_"*" is not set")
      sym="${line#\# }"; sym="${sym%% is not set}"
      if grep -q "^$sym=" "$src/.config"; then echo "    the guest kernel's config kept: $(grep "^$sym=" "$src/.config")"; missing=1; fi ;;
  esac
done < "$fragment"
[ "$missing" = 0 ] || { echo "    scripts/guest-kernel.config asks for what Kconfig will not give (see above)"; exit 1; }
jobs="$(nproc)"
echo "==> guest kernel: building vmlinux ($jobs jobs; progress every 200 compiled files)"
built_release="$(cd "$src" && make -s LOCALVERSION="$localversion" kernelrelease)"
[ "$built_release" = "$release" ] || { echo "    the source builds release $built_release, not $release"; exit 1; }
(cd "$src" && KBUILD_BUILD_USER=strata KBUILD_BUILD_HOST=strata make -j"$jobs" LOCALVERSION="$localversion" vmlinux 2>&1) > "$work/build.log" &
build=$!
seen=0
while kill -0 "$build" 2> /dev/null; do
  sleep 10
  n="$(grep -c '^  CC ' "$work/build.log" || true)"
  if [ $((n / 200)) -gt $((seen / 200)) ]; then echo "    compiled $n files"; seen="$n"; fi
done
if ! wait "$build"; then
  echo "    the guest kernel's build failed; its last lines:"; tail -n 30 "$work/build.log" | sed 's/^/    /'; exit 1
fi
mkdir -p "$dest.new"
mv "$src/vmlinux" "$dest.new/vmlinux"
cp "$src/.config" "$dest.new/config"
rm -rf "$dest"
mv "$dest.new" "$dest"
ln -sfn "$release" "$GUEST_DIR/current"
# The kernels it replaces go (a running guest's kernel is in its VM's memory; snapshots are keyed by release).
for old in "$GUEST_DIR"/*/; do
  old="${old%/}"
  if [ "${old##*/}" != "$release" ] && [ ! -L "$old" ]; then echo "    removing the replaced guest kernel ${old##*/}"; rm -rf "$old"; fi
done
echo "==> guest kernel: $dest/vmlinux ($(grep -c '^  CC ' "$work/build.log") files compiled)"
