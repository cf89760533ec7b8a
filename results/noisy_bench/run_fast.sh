#!/bin/sh
# The fast procedures over the six landscapes at seed noise 1.6 and 0.45 points, one process
# per cell (a cut-short run keeps the cells it finished). Usage: run_fast.sh REPS
cd "$(dirname "$0")/../.." || exit 1
for noise in 1.6 0.45; do
  for land in proxy6 paper flat interact r-by-stage saturate; do
    OMP_NUM_THREADS=1 timeout 3000 python bench/noisy_search.py --json --reps "$1" \
      --noise "$noise" --landscape "$land" --procedures single-seed,noise-aware,random,tpe,model \
      > "results/noisy_bench/fast_noise${noise}_$land.json" \
      2> "results/noisy_bench/fast_noise${noise}_$land.log"
  done
done
