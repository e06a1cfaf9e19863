#!/usr/bin/env bash
# Builds the appliance OVA: ./allerta ova [DIR]  (default DIR: target/ova)
#   the Debian package (vmware/deb.sh) → Debian 12 rootfs (mmdebstrap) with the package
#   installed by dpkg → 4 GiB BIOS/MBR disk with GRUB, made
#   without loop devices (mkfs.ext4 -d, GRUB's boot.img and core.img written with dd) →
#   allerta-ova pack (streamOptimized VMDK, descriptor, manifest, OVA) → check → negative.
# Prints a TIME line per step. Needs root and the Debian packages `./allerta ova` installs.
# DEBIAN_MIRROR overrides the mirror; SOURCE_DATE_EPOCH makes the packing reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
out="$(realpath -m "${1:-target/ova}")"
work="$out/work"
size_mib=4096
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
started=$SECONDS
t0=$SECONDS
step() { printf 'TIME %-10s %4d s\n' "$1" $((SECONDS - t0)) >&2; t0=$SECONDS; }

cargo build --release --locked -p allerta-ova
bin="$target_dir/release"
deb="$(realpath "$(vmware/deb.sh)")"
step package

rm -rf "$work"
mkdir -p "$work"
mmdebstrap --mode=root --variant=apt \
  --include=linux-image-amd64,initramfs-tools,systemd,systemd-sysv,systemd-resolved,udev,dbus,kmod,iproute2,iputils-ping,procps,less,ca-certificates,open-vm-tools,espeak-ng,sox,libsox-fmt-mp3,tzdata \
  --customize-hook="$repo/vmware/customize-rootfs.sh \"\$1\" $repo $deb" \
  bookworm "$work/rootfs" "$mirror"
step rootfs

# The disk: one ext4 partition from 1 MiB, GRUB in the MBR and the gap before it.
uuid="$(cat /proc/sys/kernel/random/uuid)"
kernel="$(cd "$work/rootfs/boot" && ls vmlinuz-* | sort -V | tail -1)"
initrd="initrd.img-${kernel#vmlinuz-}"
install -d "$work/rootfs/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$work/rootfs/boot/grub/i386-pc/"
cat > "$work/rootfs/boot/grub/grub.cfg" <<GRUB
set timeout=1
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "Allerta" {
  search --no-floppy --fs-uuid --set=root $uuid
  linux /boot/$kernel root=UUID=$uuid ro console=ttyS0,115200n8 console=tty0
  initrd /boot/$initrd
}
GRUB
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > "$work/rootfs/etc/fstab"
mkfs.ext4 -q -F -L allerta-root -U "$uuid" -d "$work/rootfs" "$work/root.ext4" "$((size_mib - 1))M"
truncate -s "${size_mib}M" "$work/disk.img"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$work/disk.img"
dd if="$work/root.ext4" of="$work/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 normal linux search search_fs_uuid configfile echo serial terminal
[ "$(stat -c %s "$work/core.img")" -lt $((2047 * 512)) ] || { echo "core.img does not fit the MBR gap" >&2; exit 1; }
dd if=/usr/lib/grub/i386-pc/boot.img of="$work/disk.img" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.img" bs=512 seek=1 conv=notrunc status=none
rm -f "$work/root.ext4"
step disk

"$bin/allerta-ova" pack --raw "$work/disk.img" --out "$out/allerta.ova"
step pack
"$bin/allerta-ova" check "$out/allerta.ova"
step check
"$bin/allerta-ova" negative "$out/allerta.ova"
step negative
ls -l "$out/allerta.ova"
printf 'TIME %-10s %4d s\n' total $((SECONDS - started)) >&2
