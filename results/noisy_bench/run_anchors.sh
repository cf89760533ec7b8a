#!/bin/sh
# The GP-based anchors (seconds per trial), each paired with single-seed and the model on the
# same repetitions; the JSON of the repetitions so far is rewritten as they finish, so a run
# stopped at the deadline keeps them. Usage: run_anchors.sh NOISE LANDSCAPE REPS PROCEDURES NAME
cd "$(dirname "$0")/../.." || exit 1
out="results/noisy_bench/$5_noise$1_$2"
OMP_NUM_THREADS=1 timeout "${LIMIT:-5400}" python bench/noisy_search.py --json --noise "$1" --landscape "$2" \
  --reps "$3" --procedures "$4" --partial "$out.json" > "$out.final.json" 2> "$out.log"
