#!/usr/bin/env bash
# ab_bench.sh — compares two builds of gfn_bench on one measurement, alternating
# them so that the drift of a shared or virtual machine hits both alike, and
# prints the median (and minimum) ms per iteration of each.
#
#   scripts/ab_bench.sh OLD_BENCH NEW_BENCH REPS gfn_bench-arguments...
#   scripts/ab_bench.sh /tmp/gfn_bench_old build/gfn_bench 6 diffusion --one --threads 2 --iters 150
#
# The arguments must select a `--one` measurement (one JSON line with
# "ms_per_iter"): `diffusion --one`, `box --one`, `train --one`.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
old=$1 new=$2 reps=$3
shift 3
for _ in $(seq "$reps"); do
    for v in old new; do
        bin=$old
        [ "$v" = new ] && bin=$new
        "$bin" "$@" | python3 -c "import json, sys; print('$v', json.loads(sys.stdin.readline())['ms_per_iter'])"
    done
done | python3 -c "
import statistics, sys
runs = {}
for line in sys.stdin:
    v, x = line.split()
    runs.setdefault(v, []).append(float(x))
print('  '.join('%s: median %.3f ms, min %.3f (%d runs)' % (v, statistics.median(x), min(x), len(x))
                for v, x in runs.items()))"
