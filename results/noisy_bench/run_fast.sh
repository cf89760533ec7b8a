#!/bin/sh
# The fast procedures over the six landscapes at one seed noise (points), one process per cell
# (a cut-short run keeps the cells it finished). Usage: run_fast.sh NOISE REPS
cd "$(dirname "$0")/../.." || exit 1
for land in proxy6 paper flat interact r-by-stage saturate; do
  OMP_NUM_THREADS=1 timeout 3000 python bench/noisy_search.py --json --reps "$2" \
    --noise "$1" --landscape "$land" --procedures single-seed,noise-aware,random,tpe,model \
    > "results/noisy_bench/fast_noise$1_$land.json" 2> "results/noisy_bench/fast_noise$1_$land.log"
done
