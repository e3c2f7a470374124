#!/usr/bin/env bash
# Runs kiln's libFuzzer targets for a bounded time each, on a copy of their seed corpora, and fails
# on any finding (crash, sanitizer report, uncaught exception, leak, timeout, memory over the limit).
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]
#
# BUILD_DIR was configured with -DKILN_FUZZ=ON (kiln.sh test does it: build-test-fuzz). A finding
# leaves its input in BUILD_DIR/fuzz-artifacts/<target>/ and the log in BUILD_DIR/fuzz-<target>.log.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${1:?usage: run_fuzzers.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]}"
SECONDS_EACH="${2:-20}"
shift $(( $# >= 2 ? 2 : $# ))
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(config idx csv jpeg cifar text words safetensors)

status=0 total=0
for t in "${TARGETS[@]}"; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz $t: $bin is not built" >&2; status=1; continue; }
  work="$(mktemp -d)"
  cp -r "$HERE/corpus/$t/." "$work/"
  art="$BUILD/fuzz-artifacts/$t/"
  mkdir -p "$art"
  log="$BUILD/fuzz-$t.log"
  # rss/malloc limit 1 GiB: a small input that demands more is a finding (issue 18, class 2).
  "$bin" "$work" -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=5 \
    -print_final_stats=1 -artifact_prefix="$art" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  corpus=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  total=$(( total + ${execs:-0} ))
  if [ $rc -eq 0 ]; then
    printf 'fuzz %-12s %9s executions in %ss, corpus %s, no findings\n' "$t" "${execs:-?}" "$SECONDS_EACH" "${corpus:-?}"
  else
    printf 'fuzz %-12s FINDING (exit %s) after %s executions; input in %s, log %s:\n' "$t" "$rc" "${execs:-?}" "$art" "$log"
    grep -E 'ERROR|SUMMARY|runtime error|terminate|#[0-9]+ 0x' "$log" | head -25
    status=1
  fi
  rm -rf "$work"
done
echo "fuzz: $total executions over ${#TARGETS[@]} targets"
exit $status
