#!/usr/bin/env bash
# The guest kernel of Strata's VM-class sandboxes (src/sandbox/guest/kernel.ts): Debian's
# linux-image-cloud-amd64, downloaded (not installed: the host's own boot is left alone) and unpacked under
# /usr/local/lib/strata/guest/<kernel release>/: an uncompressed PVH `vmlinux` taken out of the bzImage
# (QEMU's microvm and Firecracker boot it directly; a compressed bzImage boots about 3x slower under TCG),
# its modules tree (virtio_mmio, virtio_blk, virtio_net, virtio_console, overlay are modules there) and
# its config. Idempotent: quick when the current release is already unpacked.
set -euo pipefail
GUEST_DIR=/usr/local/lib/strata/guest
pkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')"
[ -n "$pkg" ] || { echo "    linux-image-cloud-amd64 is not known to apt (run apt-get update)"; exit 1; }
release="${pkg#linux-image-}"
dest="$GUEST_DIR/$release"
if [ -f "$dest/vmlinux" ] && [ -d "$dest/modules" ]; then
  ln -sfn "$release" "$GUEST_DIR/current"
  exit 0
fi
echo "==> guest kernel: downloading $pkg"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
deb="$(ls "$tmp"/*.deb)"
dpkg-deb -x "$deb" "$tmp/x"
bz="$tmp/x/boot/vmlinuz-$release"
echo "==> guest kernel: unpacking vmlinux from $(basename "$bz")"
# As the kernel's scripts/extract-vmlinux does: find the payload's compression magic, decompress from
# there, and keep the result if it is an ELF file. Debian 12 compresses with LZ4 (legacy frame magic
# 02 21 4c 18); xz and zstd are tried for other releases.
mkdir -p "$tmp/out"
try() { # $1 magic (grep -P bytes), $2.. decompressor
  local magic="$1"; shift
  local pos
  for pos in $(LC_ALL=C grep -aboP "$magic" "$bz" | cut -d: -f1 | head -n 5); do
    tail -c+$((pos + 1)) "$bz" | "$@" > "$tmp/out/vmlinux" 2>/dev/null || true
    if [ "$(head -c4 "$tmp/out/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ]; then return 0; fi
  done
  return 1
}
try '\x02\x21\x4c\x18' lz4 -dc || try '\xfd\x37\x7a\x58\x5a\x00' xz -dc || try '\x28\xb5\x2f\xfd' zstd -dc ||
  { echo "    could not find an uncompressed kernel in $bz"; exit 1; }
mkdir -p "$dest.new"
mv "$tmp/out/vmlinux" "$dest.new/vmlinux"
mv "$tmp/x/lib/modules/$release" "$dest.new/modules"
cp "$tmp/x/boot/config-$release" "$dest.new/config"
rm -rf "$dest"
mv "$dest.new" "$dest"
ln -sfn "$release" "$GUEST_DIR/current"
echo "==> guest kernel: $dest/vmlinux"
