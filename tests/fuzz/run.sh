#!/usr/bin/env bash
# Runs every fuzz target for N seconds (first argument, default 30), one after the other,
# single process. The targets are what `cargo fuzz list` gives: vrrp_advert, and for mediacore
# sip_message, sip_stream, sdp, rtp_rfc4733, rtcp, wav, dialplan, pjsip_conf and callfile,
# sync_frame for the sync agent, and ovf_env for first boot
# (README.md says what each feeds). Exits non-zero if any target crashed; the crashing input
# is saved under artifacts/<target>/. New corpus entries go to corpus/<target>/ (gitignored);
# seeds/<target>/ is read as an extra input corpus and never written to.
#
# Works on the stable toolchain. SANITIZER=none (default) needs nothing unstable;
# SANITIZER=address uses -Zsanitizer=address, so on stable it sets RUSTC_BOOTSTRAP=1, and
# builds into target/address/ so the two builds do not evict each other.
set -euo pipefail

secs="${1:-30}"
sanitizer="${SANITIZER:-none}"
cd "$(dirname "$0")"

build_args=(--sanitizer "$sanitizer")
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
    build_args+=(--target-dir "target/$sanitizer")
fi

status=0
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    inputs=("corpus/$target")
    if [ -d "seeds/$target" ]; then
        inputs+=("seeds/$target")
    fi
    # The RFC 4475 torture messages are raw SIP: seeds for the targets that read raw SIP.
    case "$target" in
        sip_message | sip_stream) inputs+=("../scenarios/rfc4475") ;;
    esac
    echo "=== $target: ${secs}s, sanitizer $sanitizer"
    # No -jobs/-workers: in-process libFuzzer is one process already, and -jobs would write
    # fuzz-<n>.log files into this directory.
    if ! cargo fuzz run "${build_args[@]}" "$target" "${inputs[@]}" -- \
        -max_total_time="$secs" -print_final_stats=1; then
        echo "=== $target: CRASH, input saved in artifacts/$target/" >&2
        status=1
    fi
done
exit "$status"
