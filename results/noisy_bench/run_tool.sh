#!/bin/sh
# The tool as users run it (`tool`: the model sampler through the tool's Objective) against
# the benchmark's `model`, noise-aware and single-seed, one process per cell, the JSON of the
# repetitions so far rewritten after each. Usage: run_tool.sh NOISE REPS LANDSCAPE...
cd "$(dirname "$0")/../.." || exit 1
noise=$1 reps=$2
shift 2
for land in "$@"; do
  out="results/noisy_bench/tool_noise${noise}_$land"
  OMP_NUM_THREADS=1 timeout 5400 python bench/noisy_search.py --json --reps "$reps" \
    --noise "$noise" --landscape "$land" --procedures single-seed,noise-aware,model,tool \
    --partial "$out.json" > "$out.final.json" 2> "$out.log"
done
