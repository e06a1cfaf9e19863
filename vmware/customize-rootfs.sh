#!/usr/bin/env bash
# mmdebstrap's customize hook: puts Allerta into the Debian rootfs at $1.
#   customize-rootfs.sh ROOTFS REPO PACKAGE
# The programs, units, documentation, man pages, completion and default dialplan come with
# the Debian package (vmware/deb.sh), installed by dpkg as an administrator would; the
# rest here is the appliance's own: time zone, prompts, units enabled, the console.
set -euo pipefail
root="$1" repo="$2" deb="$3"

cp "$deb" "$root/tmp/allerta.deb"
chroot "$root" dpkg -i /tmp/allerta.deb
rm -f "$root/tmp/allerta.deb"

# The nodes' local time is Italy's (Germany's is the same): the SLA's service times
# (07:00-18:00), campaign dialling windows and the times operators write are local.
ln -sf /usr/share/zoneinfo/Europe/Rome "$root/etc/localtime"
echo Europe/Rome >"$root/etc/timezone"

# The replicated tree: the dialplan and its prompts (spoken by espeak-ng, resampled to the
# 8 kHz 16-bit mono WAV the media core plays).
install -d -m 0755 "$root/etc/allerta/shared/prompts" "$root/etc/allerta/node/tls" \
  "$root/var/spool/allerta/outgoing" "$root/var/lib/allerta/recordings"
chmod 0700 "$root/etc/allerta/node/tls"
speak() { # name text (a name may hold a folder: digits/21)
  chroot "$root" espeak-ng -v it -s 150 -w /tmp/speak.wav "$2" </dev/null
  chroot "$root" sox /tmp/speak.wav -r 8000 -c 1 -b 16 "/etc/allerta/shared/prompts/$1.wav" </dev/null
  rm -f "$root/tmp/speak.wav"
}
speak alert "Messaggio di prova della protezione civile."
speak confirm "Premere uno per confermare l'ascolto."
speak thanks "Grazie. Arrivederci."
# The prompts SayDigits, SayNumber and AGI's SAY DIGITS/SAY NUMBER play, with Asterisk's
# names (digits/21 "ventuno", digits/hundred "cento", ...): mediacore/prompts/digits-it.tsv,
# which mediacore's tests check against every prompt those can ask for.
install -d -m 0755 "$root/etc/allerta/shared/prompts/digits"
grep -v '^#' "$repo/mediacore/prompts/digits-it.tsv" | while IFS=$'\t' read -r name text; do
  [ -n "$name" ] && speak "$name" "$text"
done

# Units: first boot on every boot, networkd for the addresses it writes, the supervisor,
# its problems on the console, a login on the serial console; the journal copied to the serial port, so the boot smoke
# (and a serial-console administrator) sees first boot's lines while /dev/console is the
# VGA console of the vSphere web console.
# (The package's postinst enabled Allerta's own units.)
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service serial-getty@ttyS0.service
install -d "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nTTYPath=/dev/ttyS0\nMaxLevelConsole=info\n' \
  > "$root/etc/systemd/journald.conf.d/50-allerta-serial.conf"

# First boot names the node; until then it is this. An empty machine-id is made at the
# first boot of each VM, so the two imports differ.
echo allerta-unconfigured > "$root/etc/hostname"
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# The root account stays locked: the console shows first boot's result and the login
# banner; administration goes through allertactl over SSH once the municipality sets it up.
