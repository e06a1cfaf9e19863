#!/usr/bin/env bash
# The suite's stability: runs the whole test command (`./allerta test`, as CI does, with
# CI=true) N times in a row on one fresh clone of this repository's HEAD, and prints the
# pass count and, for each failed run, the failing tests and the first lines of each panic.
#
#   tests/repeat.sh N [--busy] [--keep]
#
# --busy   a CPU-hungry process (a busy loop on one core) runs beside every run, as on a
#          shared CI machine; it is ended by its PID when the runs are over.
# --keep   leave the clone and the run logs in place (they are kept anyway if a run failed).
#
# The clone builds once (the first run); later runs reuse its target directory, so each
# run after the first measures the tests, not the build. Exits 1 unless every run passed.
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "usage: tests/repeat.sh N [--busy] [--keep]" >&2; exit 2; }
shift
busy=false keep=false
for arg in "$@"; do
  case "$arg" in
    --busy) busy=true ;;
    --keep) keep=true ;;
    *) echo "tests/repeat.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d /tmp/allerta-repeat.XXXXXX)"
git clone --quiet "$PWD" "$work/clone"
echo "repeat: $runs run(s) of ./allerta test on a fresh clone of $(git rev-parse --short HEAD) in $work/clone$($busy && echo ', with a busy neighbour')"

hog=""
cleanup() {
  [ -n "$hog" ] && kill "$hog" 2>/dev/null
  true
}
trap cleanup EXIT
if $busy; then
  bash -c 'while :; do :; done' &
  hog=$!
  echo "repeat: busy neighbour PID $hog"
fi

passed=0
for i in $(seq 1 "$runs"); do
  log="$work/run-$i.log"
  start=$(date +%s)
  (cd "$work/clone" && CI=true ./allerta test) >"$log" 2>&1 </dev/null
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "run $i: passed in ${secs} s"
  else
    echo "run $i: FAILED (exit $rc) in ${secs} s; log $log"
    grep -E '^test .* \.\.\. FAILED$' "$log" | sed 's/^/    /'
    # The first lines of each panic, as the test harness printed them.
    grep -n -A4 "panicked at" "$log" | head -40 | sed 's/^/    /'
    grep -E '^error(\[|:)' "$log" | head -5 | sed 's/^/    /'
  fi
done
echo "$passed passed, $((runs - passed)) failed"
if [ "$passed" = "$runs" ] && ! $keep; then
  rm -rf "$work"
fi
[ "$passed" = "$runs" ]
