#!/usr/bin/env bash
# Real films decide (quick check; build_lite_zoo.sh step 9 writes the same held-out reports for the cards):
# the shipped zoo's branches on the real mini-MIAS films (scanned-film MLO views of
# both breasts; MIAS has no CC views, so the ipsilateral branch and the fusion cannot run and the chain
# reads every film with the bilateral branch).
#   bash model_zoo/real_film_eval.sh [OUT]          (default ../data/real-film; MIAS from ../shared/data/mias)
# held-out: the val and test splits of `mommi data import mias --seed 0`, 22 women whose films the detection
#           models were not trained on (val chose their checkpoints): the honest numbers, with wide CIs;
# all:      every film, the training films included: optimistic, shown for the ranking of the branches.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-../data/real-film}
MIAS=${MIAS:-../shared/data/mias}
mkdir -p "$OUT"
mommi data import mias "$MIAS" --out "$OUT/mias.json" --seed 0
for task in single bidual fusion; do
  mommi predict "$task" --manifest "$OUT/mias.json" --split all --out "$OUT/$task.json"
  mommi eval --manifest "$OUT/mias.json" --predictions "$OUT/$task.json" --split val,test --out "$OUT/$task-heldout"
  mommi eval --manifest "$OUT/mias.json" --predictions "$OUT/$task.json" --split all --out "$OUT/$task-all"
done
