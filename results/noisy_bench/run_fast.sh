#!/bin/sh
# The fast procedures at one noise level over the six landscapes, one process per landscape
# (a cut-short run keeps the landscapes it finished). Usage: run_fast.sh NOISE REPS
cd "$(dirname "$0")/../.." || exit 1
for land in proxy6 paper flat interact r-by-stage saturate; do
  OMP_NUM_THREADS=1 timeout 3000 python bench/noisy_search.py --json --reps "$2" --noise "$1" \
    --landscape "$land" --procedures single-seed,noise-aware,random,tpe,model \
    > "results/noisy_bench/fast_noise$1_$land.json" 2> "results/noisy_bench/fast_noise$1_$land.log"
done
