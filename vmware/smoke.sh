#!/usr/bin/env bash
# Boot smoke: ./allerta smoke [DIR]  (default DIR: target/ova; builds DIR/allerta.ova first
# if it is not there). Not part of ./allerta test: each boot takes minutes under TCG.
#
# The VMDK is taken out of the OVA and booted under QEMU with VMware's devices (PVSCSI
# disk, two VMXNET3 adapters, an IDE CD-ROM holding ovf-env.xml: vCenter's ISO transport),
# on a throw-away qcow2 overlay, three times:
#   master   the console shows "configured master", the supervisor started, the VIP added
#   backup   the same for the backup
#   again    the master's disk booted again with the same environment: "unchanged"
#   bad      an environment with a VIP outside the data subnet: "ERROR: ha.vip: …", the
#            supervisor not started, the VM still reaches its login prompt
# Networking is QEMU user mode with restrict=on: nothing leaves the VM. TCG, not KVM (a
# Linux guest hung under this machine's KVM). SMOKE_TIMEOUT (s, default 900) per boot.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-target/ova}")"
bin="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release"
limit="${SMOKE_TIMEOUT:-900}"
[ -f "$out/allerta.ova" ] || vmware/ova.sh "$out"
[ -x "$bin/allerta-ova" ] || cargo build --release --locked -p allerta-ova
smoke="$out/smoke"
rm -rf "$smoke"
mkdir -p "$smoke"
tar -xf "$out/allerta.ova" -C "$smoke" allerta-disk1.vmdk

# The pair on documentation addresses (RFC 5737); both trunks by IP (no DNS in the VM).
common=(
  --set data.prefix=24 --set data.gateway=192.0.2.1 --set data.dns=192.0.2.53
  --set voice.prefix=24 --set ha.vip=192.0.2.10 --set ha.vrid=51
  --set trunk_in.registrar=198.51.100.1 --set trunk_in.password='in&pass;word'
  --set trunk_out.registrar=198.51.100.1 --set trunk_out.password='p&w"<x>'
  --set sync.pairing_secret=smoke-pairing-secret-0001
)
master=(--role master --set data.ip=192.0.2.11 --set ha.peer_ip=192.0.2.12 --set voice.ip=198.51.100.11
  --set trunk_in.user=0743111 --set trunk_in.number=0743111 --set trunk_out.user=0743999 --set trunk_out.number=0743999)
backup=(--role backup --set data.ip=192.0.2.12 --set ha.peer_ip=192.0.2.11 --set voice.ip=198.51.100.12
  --set trunk_in.user=0743222 --set trunk_in.number=0743222 --set trunk_out.user=0743998 --set trunk_out.number=0743998)

# boot NAME DISK PATTERN... : boots the overlay DISK (made on first use) with NAME's
# environment until every PATTERN (extended regex) is on the serial console, or fails after
# $limit seconds. A PATTERN starting with "!" must not be there.
boot() {
  local name="$1" disk="$smoke/$2.qcow2"; shift 2
  local dir="$smoke/$name" log="$smoke/$name.console.log" started=$SECONDS
  xorriso -as mkisofs -quiet -V "OVF ENV" -J -R -o "$smoke/$name.iso" "$dir" 2>/dev/null
  [ -f "$disk" ] || qemu-img create -q -f qcow2 -b "$smoke/allerta-disk1.vmdk" -F vmdk "$disk"
  qemu-system-x86_64 -machine pc,accel=tcg -cpu max -m 1536 -smp 2 -display none -no-reboot \
    -serial "file:$log" -monitor none \
    -device pvscsi,id=pvscsi0 \
    -drive "file=$disk,if=none,id=disk0,format=qcow2" -device scsi-hd,drive=disk0,bus=pvscsi0.0 \
    -drive "file=$smoke/$name.iso,if=none,id=cd0,media=cdrom,format=raw,readonly=on" -device ide-cd,drive=cd0,bus=ide.1 \
    -netdev user,id=data,restrict=on -device vmxnet3,netdev=data,mac=00:50:56:00:00:01 \
    -netdev user,id=voice,restrict=on -device vmxnet3,netdev=voice,mac=00:50:56:00:00:02 &
  local qemu=$!
  local missing=() absent=()
  for p in "$@"; do
    case "$p" in '!'*) absent+=("${p#!}") ;; *) missing+=("$p") ;; esac
  done
  while [ ${#missing[@]} -gt 0 ] && [ $((SECONDS - started)) -lt "$limit" ] && kill -0 "$qemu" 2>/dev/null; do
    sleep 5
    local still=()
    for p in "${missing[@]}"; do grep -Eq -- "$p" "$log" 2>/dev/null || still+=("$p"); done
    missing=("${still[@]+"${still[@]}"}")
  done
  kill "$qemu" 2>/dev/null || true
  wait "$qemu" 2>/dev/null || true
  for p in "${absent[@]+"${absent[@]}"}"; do grep -Eq -- "$p" "$log" && missing+=("(absent) $p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'SMOKE FAIL %s after %d s: not on the console: %s (see %s)\n' "$name" $((SECONDS - started)) "${missing[*]}" "$log"
    return 1
  fi
  printf 'SMOKE OK   %s in %d s\n' "$name" $((SECONDS - started))
  grep -E 'allerta-firstboot|ERROR:|allerta-supervisor' "$log" | sed 's/^/    /' | head -8
}

for name in master again backup bad; do mkdir -p "$smoke/$name"; done
"$bin/allerta-ova" env "${master[@]}" "${common[@]}" --out "$smoke/master/ovf-env.xml"
cp "$smoke/master/ovf-env.xml" "$smoke/again/"
"$bin/allerta-ova" env "${backup[@]}" "${common[@]}" --out "$smoke/backup/ovf-env.xml"
"$bin/allerta-ova" env "${master[@]}" "${common[@]}" --set ha.vip=192.0.3.10 --out "$smoke/bad/ovf-env.xml"

failed=0
# Alone on its network the master takes the VIP: the unit's three capabilities and
# LimitRTPRIO are enough for netlink, raw sockets and SCHED_FIFO.
boot master master 'allerta-firstboot.*configured master allerta-a' 'Started allerta-supervisor.service' \
  'advert thread runs SCHED_FIFO' 'virtual address added net=192.0.2.10/24' || failed=1
boot again master 'allerta-firstboot.*unchanged: master allerta-a' 'Started allerta-supervisor.service' || failed=1
boot backup backup 'allerta-firstboot.*configured backup allerta-b' 'Started allerta-supervisor.service' || failed=1
boot bad bad 'ERROR: ha.vip: 192.0.3.10 is not in the data network 192.0.2.0/24' 'allerta-unconfigured login:' \
  '!Starting allerta-supervisor.service' || failed=1
exit $failed
