#!/usr/bin/env bash
# Builds the lite model zoo from scratch: synthetic data, MIAS import, training, ONNX export,
# evaluation. Every number in the model cards comes from this script.
#   bash model_zoo/build_lite_zoo.sh [DATA_DIR]   (default ../data; MIAS from ../shared/data/mias)
# Idempotent: existing data are kept and interrupted training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../data}
MIAS=${MIAS:-../shared/data/mias}
mkdir -p "$DATA"

# 1. data: 400 synthetic training/validation studies, 200 unseen test studies, MIAS
[ -d "$DATA/synth-train" ] || mommi synth --studies 400 --out "$DATA/synth-train" --seed 100
[ -d "$DATA/synth-test" ] || mommi synth --studies 200 --out "$DATA/synth-test" --seed 200
mommi data import synthetic "$DATA/synth-train" --out "$DATA/synth-train.json" --fractions 0.9,0.1,0
mommi data import synthetic "$DATA/synth-test" --out "$DATA/synth-test.json" --fractions 0,0,1
mommi data import mias "$MIAS" --out "$DATA/mias.json" --seed 0

# 2. training (lite configuration, CPU is enough)
mommi train nipple --manifest "$DATA/synth-train.json" --out "$DATA/runs/nipple" --epochs 10 --seed 0
for task in single bidual; do
  mommi train "$task" --manifest "$DATA/synth-train.json" --manifest "$DATA/mias.json" \
    --out "$DATA/runs/$task" --epochs 12 --seed 0
done

# 3. export to ONNX with a parity check, into model_zoo/ (manifest entries and cards)
for task in nipple single bidual; do
  mommi export "$task" "$DATA/runs/$task/best.pt" --zoo model_zoo
done

# 4. evaluation with the exported ONNX models (the numbers in the cards)
for task in single bidual; do
  for set in synth-test:test mias:val; do
    name=${set%%:*}; split=${set##*:}
    mommi predict "$task" --manifest "$DATA/$name.json" --split "$split" --out "$DATA/eval/$task-$name/predictions.json"
    mommi eval --manifest "$DATA/$name.json" --split "$split" --predictions "$DATA/eval/$task-$name/predictions.json" \
      --out "$DATA/eval/$task-$name"
  done
done
mommi predict nipple --manifest "$DATA/synth-test.json" --split test --out "$DATA/eval/nipple-synth-test/predictions.json"
mommi eval --manifest "$DATA/synth-test.json" --split test --predictions "$DATA/eval/nipple-synth-test/predictions.json" \
  --out "$DATA/eval/nipple-synth-test"
mommi zoo record-metrics --zoo model_zoo --eval "$DATA/eval"
