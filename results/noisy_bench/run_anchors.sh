#!/bin/sh
# The GP-based anchors (seconds per trial), paired with single-seed and the model on the same
# repetitions: Optuna GP and SMAC3 on one additive and one interaction landscape, BoTorch
# (qLogNEHVI) on as few repetitions as the machine allows. Usage: run_anchors.sh REPS BOTORCH_REPS
cd "$(dirname "$0")/../.." || exit 1
run() {  # noise landscape reps procedures name
  OMP_NUM_THREADS=1 timeout 3000 python bench/noisy_search.py --json --noise "$1" \
    --landscape "$2" --reps "$3" --procedures "$4" \
    > "results/noisy_bench/$5_noise$1_$2.json" 2> "results/noisy_bench/$5_noise$1_$2.log"
}
run 1.6 paper "$1" single-seed,gp,smac,model anchors
run 0.45 interact "$1" single-seed,gp,smac,model anchors
run 1.6 paper "$2" botorch,model botorch
