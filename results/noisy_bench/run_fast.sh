#!/bin/sh
# The fast procedures over the six landscapes at one seed noise (points), one process per cell
# (a cut-short run keeps the cells it finished, and of the cell it was in the repetitions
# that finished). Usage: run_fast.sh NOISE REPS [LANDSCAPE...]
cd "$(dirname "$0")/../.." || exit 1
noise=$1 reps=$2
shift 2
for land in ${@:-proxy6 paper flat interact r-by-stage saturate}; do
  out="results/noisy_bench/fast_noise${noise}_$land"
  OMP_NUM_THREADS=1 timeout 5400 python bench/noisy_search.py --json --reps "$reps" \
    --noise "$noise" --landscape "$land" --procedures single-seed,noise-aware,random,tpe,model \
    --partial "$out.json" > "$out.final.json" 2> "$out.log"
done
