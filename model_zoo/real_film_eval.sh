#!/usr/bin/env bash
# Real films decide: the 5-fold cross-validation by woman of the mass-map recipe on the real mini-MIAS films
# (scanned-film MLO views of both breasts, 108 women, 39 masses), as build_lite_zoo.sh step 2 runs it.
#   bash model_zoo/real_film_eval.sh [DATA_DIR]   (default ../data; MIAS from ../shared/data/mias)
# Needs the phantom-pretrained networks of build_lite_zoo.sh ($DATA/runs/pre-single, pre-bidual); about
# 15 (single) and 25 (bilateral) minutes on 2 CPU cores. Writes $DATA/eval/<task>-mias-cv/: predictions.json
# (every film read by the fold that never saw its woman), report.json (FROC with patient-bootstrap CIs) and
# cv.json (folds, recipe, best-case recall, operating point). Finished folds are kept: a second run only
# re-scores them (e.g. after a change to how candidates are taken from the maps).
# MIAS has no CC views, so the ipsilateral branch and the fusion cannot be cross-validated on it.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../data}
MIAS=${MIAS:-../shared/data/mias}
REAL_EPOCHS=${REAL_EPOCHS:-30}
mommi data import mias "$MIAS" --out "$DATA/mias-all.json" --fractions 1,0,0
for task in single bidual; do
  mommi train "$task" --cv 5 --manifest "$DATA/mias-all.json" --epochs "$REAL_EPOCHS" --lr 1e-3 --seed 0 \
    --out "$DATA/eval/$task-mias-cv" --init-from "$DATA/runs/pre-$task/best.pt"
done
