#!/usr/bin/env bash
# learning_targets.sh — runs the learning targets of SPEC.md §7 over several seeds
# and prints a markdown table of the per-seed metrics.
#
#   scripts/learning_targets.sh [seeds...]        (default seeds: 1 2 3)
#   TARGETS="tb_2d_h8 lpv" scripts/learning_targets.sh
#
# Each row is the exact command line it ran (build/gfn train ... --json).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory build/gfn >/dev/null
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)

declare -A RUNS=(
  [tb_2d_h8]="--ndim 2 --height 8|l1<=0.027"
  [tb_2d_h16]="--ndim 2 --height 16|l1<=0.10"
  [tb_4d_h8]="--ndim 4 --height 8|l1<=0.60"
  [lpv_2d_h8]="--loss lpv|l1<=0.05"
  [rtb]="--loss rtb --reward deceptive --iterations 500|exact_l1<=0.05"
  [relative_lpv]="--loss relative_lpv --reward deceptive --iterations 500|exact_l1<=0.05"
  [trust_pcl]="--loss trust_pcl --alpha 1 --reward deceptive --iterations 500|exact_l1<=0.05"
  [trust_pcl_a2]="--loss trust_pcl --alpha 2 --reward deceptive --iterations 500|exact_l1<=0.05"
  [conditional_tb]="--env conditional_hypergrid --tied --iterations 2000 --lr-schedule cosine --lr-logz 0.01|exact_l1<=0.05 per c"
  [db_2d_h8]="--loss db|l1<=0.05"
  [subtb_2d_h8]="--loss subtb --lambda 0.9 --subtb-weighting geometric_within|l1<=0.05"
  [fm_2d_h8]="--loss fm|l1<=0.097"
  [modified_db_2d_h8]="--loss modified_db|l1<=0.10"
  [tb_replay_2d_h8]="--replay-buffer 1000 --buffer fifo|l1<=0.028"
  [fm_discrete_ebm_d2]="--env discrete_ebm --ndim 2 --loss fm --iterations 125|l1<=0.10"
  [tb_bitsequence_k1_n4]="--env bitsequence --word-size 1 --seq-size 4 --n-modes 2 --batch-size 32 --iterations 1000 --lr 1e-4 --lr-logz 1e-2|mean_abs_error<=1.44e-3"
)
order=(tb_2d_h8 tb_2d_h16 tb_4d_h8 lpv_2d_h8 rtb relative_lpv trust_pcl trust_pcl_a2 conditional_tb
       db_2d_h8 subtb_2d_h8 fm_2d_h8 modified_db_2d_h8 tb_replay_2d_h8 fm_discrete_ebm_d2 tb_bitsequence_k1_n4)
targets=(${TARGETS:-${order[@]}})

echo "| run | target | seed | l1 | exact_l1 | mean abs err | jsd | logZ | logZ_true | modes | seconds | command |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for name in "${targets[@]}"; do
  IFS='|' read -r args target <<<"${RUNS[$name]}"
  for seed in "${seeds[@]}"; do
    cmd="build/gfn train $args --seed $seed --json --quiet"
    line=$($cmd | tail -n 1)
    python3 - "$name" "$target" "$seed" "$cmd" "$line" <<'PY'
import json, sys
name, target, seed, cmd, line = sys.argv[1:]
d = json.loads(line)
f = lambda v: "n/a" if v is None else f"{v:.4f}"
extra = ""
if "per_condition" in d:
    extra = " per c: " + ", ".join(f"c={p['c']}: {p['exact_l1']:.4f}" for p in d["per_condition"])
print(f"| {name} | {target} | {seed} | {f(d['l1'])} | {f(d['exact_l1'])}{extra} | {d['mean_abs_error']:.2e} | {d['jsd']:.5f} | {f(d['logz'])} | "
      f"{d['logz_true']:.4f} | {d['modes_found']}/{d['n_modes']} | {d['seconds']:.2f} | `{cmd}` |")
PY
  done
done
