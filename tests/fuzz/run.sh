#!/usr/bin/env bash
# run.sh — runs each libFuzzer harness of BIN_DIR (built by `make fuzz`) for
# SECONDS seconds on its seed corpus tests/fuzz/corpus/NAME. New corpus
# entries go to a scratch copy (BIN_DIR/corpus/NAME), never into tests/;
# a crashing input is saved as BIN_DIR/crashes/NAME-crash-… (or leak-,
# timeout-, oom-). Ends with one line per harness (executions done) and fails
# when any harness found something.
#   usage: tests/fuzz/run.sh BIN_DIR SECONDS NAME...
set -uo pipefail
bin_dir=$1 seconds=$2
shift 2
max_len() {  # the largest input a harness is given, in bytes
    case $1 in checkpoint_*) echo 16384 ;; metrics) echo 8192 ;; *) echo 2048 ;; esac
}
summary=() failed=0
for name in "$@"; do
    corpus=$bin_dir/corpus/$name crashes=$bin_dir/crashes log=$bin_dir/$name.log
    mkdir -p "$corpus" "$crashes"
    echo "fuzz: $name for ${seconds}s (log: $log)"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin_dir/$name" -max_total_time="$seconds" -max_len="$(max_len "$name")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/$name-" \
        "$corpus" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then
        summary+=("fuzz $name: ${runs:-?} executions in ${seconds}s, nothing found")
    else
        failed=1
        tail -n 40 "$log" >&2
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        summary+=("fuzz $name: FOUND A PROBLEM (exit $rc) after $(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) executions; input: ${artifact:-see $log}")
    fi
done
printf '%s\n' "${summary[@]}"
exit $failed
