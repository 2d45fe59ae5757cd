#!/usr/bin/env bash
# Runs every fuzz target in turn for N seconds of wall time each (first argument, default 1800),
# niced, and appends one line per target to fuzz/runs.log: CPU seconds, executions, corpus size,
# crash files. See docs/fuzzing.md.
#
#   bash fuzz/run-all.sh [SECONDS] [TARGET...]
#
# Stable toolchain: cargo-fuzz needs -Z flags, which RUSTC_BOOTSTRAP=1 unlocks. Each target grows
# its corpus in fuzz/work/<target>/ (git-ignored), starting from the committed seeds in
# fuzz/corpus/<target>/ and fuzz/regressions/<target>/; crashes land in fuzz/artifacts/<target>/.
# SANITIZER=none skips AddressSanitizer (faster, catches no memory errors in unsafe code).
# FORK=1 runs each target in libFuzzer's fork mode and goes on past crashes, timeouts and
# out-of-memory (for a target with a known, unfixed finding: fuzz/known-crashes/).
# CPU_SECONDS=N makes N the budget in CPU seconds instead of wall seconds: the target is run
# again (same corpus) until its runs add up to N CPU seconds, so a campaign on a shared, busy
# machine still gets its full time. The log line then sums the runs.
set -uo pipefail
cd "$(dirname "$0")"

seconds="${1:-1800}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(ndjson csv arrow_ipc parquet sql pg_frontend wal_replay metadata)
fi
sanitizer="${SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
log="runs.log"

nice -n 15 cargo fuzz build -O --sanitizer "$sanitizer" || exit 1
triple="$(rustc -vV | awk '/^host:/ {print $2}')"

for target in "${targets[@]}"; do
  work="work/${target}"
  artifacts="artifacts/${target}"
  mkdir -p "$work" "$artifacts" "regressions/${target}"
  out="work/${target}.out"
  # The sql target ignores inputs over 4 KiB (strata_query::fuzzing::SQL_BYTES_MAX).
  extra=()
  [ "$target" = sql ] && extra+=(-max_len=4096)
  [ "${FORK:-0}" = 1 ] && extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  before=$(find "$artifacts" -type f | sort)
  start=$(date -u +%FT%TZ)
  cpu_total=0
  execs_total=0
  budget="${CPU_SECONDS:-0}"
  while :; do
    wall="$seconds"
    [ "$budget" -gt 0 ] && wall=$((budget - cpu_total))
    # The binary cargo fuzz built, run directly (what `cargo fuzz run` does after building), so
    # that /usr/bin/time's %U+%S is the fuzzer's CPU time alone (children included in fork
    # mode). One process per target, one core; libFuzzer stops at the first crash, leak,
    # timeout or out-of-memory.
    /usr/bin/time -f 'cpu_seconds %U %S' -o "work/${target}.time" \
      nice -n 15 "target/${triple}/release/${target}" \
        -artifact_prefix="${artifacts}/" \
        -max_total_time="$wall" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "${extra[@]}" "$work" "corpus/${target}" "regressions/${target}" >"$out" 2>&1
    status=$?
    cpu=$(awk '/^cpu_seconds/ {printf "%.0f", $2 + $3}' "work/${target}.time")
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$out" | tail -1)
    # Fork mode prints no final stats: the last status line's "#N" is the executions.
    [ -z "$execs" ] && execs=$(grep -oE '^#[0-9]+' "$out" | tail -1 | tr -d '#')
    cpu_total=$((cpu_total + ${cpu:-0}))
    execs_total=$((execs_total + ${execs:-0}))
    # Without a CPU budget one run is the campaign; with one, stop at the budget or at a finding
    # (fork mode goes on past findings, and its exit status only says that there were some).
    stopped=0
    [ "$status" -ne 0 ] && [ "${FORK:-0}" != 1 ] && stopped=1
    if [ "$budget" -le 0 ] || [ "$stopped" = 1 ] || [ "$cpu_total" -ge "$budget" ]; then
      break
    fi
  done
  cpu="$cpu_total"
  execs="$execs_total"
  corpus=$(find "$work" -type f | wc -l)
  after=$(find "$artifacts" -type f | sort)
  crashes=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
  printf '%s target=%s seconds=%s cpu_budget=%s exit=%s cpu_seconds=%s execs=%s corpus=%s crashes=%s\n' \
    "$start" "$target" "$seconds" "${budget}" "$status" "${cpu:-?}" "${execs:-?}" "$corpus" \
    "${crashes:-none}" | tee -a "$log"
done
