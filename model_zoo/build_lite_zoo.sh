#!/usr/bin/env bash
# Builds the lite model zoo from scratch: synthetic data, MIAS import, training, ONNX export,
# evaluation. Every number in the model cards comes from this script.
#   bash model_zoo/build_lite_zoo.sh [DATA_DIR]   (default ../data; MIAS from ../shared/data/mias)
# Idempotent: existing data are kept and interrupted training resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../data}
MIAS=${MIAS:-../shared/data/mias}
IPSI_EPOCHS=${IPSI_EPOCHS:-5}
CLS_EPOCHS=${CLS_EPOCHS:-20}
mkdir -p "$DATA"

# 1. data: 400 synthetic training/validation studies, 200 unseen test studies, MIAS
[ -d "$DATA/synth-train" ] || mommi synth --studies 400 --out "$DATA/synth-train" --seed 100
[ -d "$DATA/synth-test" ] || mommi synth --studies 200 --out "$DATA/synth-test" --seed 200
mommi data import synthetic "$DATA/synth-train" --out "$DATA/synth-train.json" --fractions 0.9,0.1,0
mommi data import synthetic "$DATA/synth-test" --out "$DATA/synth-test.json" --fractions 0,0,1
mommi data import mias "$MIAS" --out "$DATA/mias.json" --seed 0

# 2. training of the branches (lite configuration, CPU is enough); IpsiDualNet needs CC + MLO pairs
#    with nipples, so it learns from the synthetic studies only (MIAS has MLO views only)
mommi train nipple --manifest "$DATA/synth-train.json" --out "$DATA/runs/nipple" --epochs 10 --seed 0
for task in single bidual; do
  mommi train "$task" --manifest "$DATA/synth-train.json" --manifest "$DATA/mias.json" \
    --out "$DATA/runs/$task" --epochs 12 --seed 0
done
mommi train ipsidual --manifest "$DATA/synth-train.json" --out "$DATA/runs/ipsidual" --epochs "$IPSI_EPOCHS" --lr 1e-3 --seed 0

# 3. export to ONNX with a parity check, into model_zoo/ (manifest entries and cards)
for task in nipple single bidual ipsidual; do
  mommi export "$task" "$DATA/runs/$task/best.pt" --zoo model_zoo
done

# 4. the fusion network, as in the paper: trained last, on the maps the exported branches make,
#    with IpsiDualNet's trunk as its frozen encoder
mommi train fusion --manifest "$DATA/synth-train.json" --out "$DATA/runs/fusion" --epochs 8 --seed 0 \
  --zoo model_zoo --encoder "$DATA/runs/ipsidual/best.pt"
mommi export fusion "$DATA/runs/fusion/best.pt" --zoo model_zoo

# 5. evaluation with the exported ONNX models (the numbers in the cards and in ablation.md)
evaluate() {  # evaluate TASK DATASET SPLIT OUTNAME [--zoo DIR]
  local task=$1 name=$2 split=$3 out=$4; shift 4
  mommi predict "$task" --manifest "$DATA/$name.json" --split "$split" --out "$DATA/eval/$out/predictions.json" "$@"
  mommi eval --manifest "$DATA/$name.json" --split "$split" --predictions "$DATA/eval/$out/predictions.json" \
    --out "$DATA/eval/$out"
}
for task in single bidual; do
  evaluate "$task" synth-test test "$task-synth-test"
  evaluate "$task" mias val "$task-mias"
done
for task in ipsidual fusion; do
  evaluate "$task" synth-test test "$task-synth-test"
done
evaluate nipple synth-test test nipple-synth-test

# 6. the IpsiDualNet geometry ablation (paper, Table 4): same training with the image centre as a
#    dummy nipple, and with plain box shape and position; evaluated from a copy of the zoo
for geometry in dummy shape; do
  mommi train ipsidual --manifest "$DATA/synth-train.json" --out "$DATA/runs/ipsidual-$geometry" \
    --epochs "$IPSI_EPOCHS" --lr 1e-3 --seed 0 --geometry "$geometry"
  rm -rf "$DATA/zoo-$geometry" && mkdir -p "$DATA/zoo-$geometry" && cp model_zoo/manifest.json model_zoo/*.onnx "$DATA/zoo-$geometry/"
  mommi export ipsidual "$DATA/runs/ipsidual-$geometry/best.pt" --zoo "$DATA/zoo-$geometry"
  evaluate ipsidual synth-test test "ablation-ipsidual-$geometry-synth-test" --zoo "$DATA/zoo-$geometry"
done

# 7. diagnostics behind model_zoo/notes/bidual.md (DIAGNOSTICS=0 skips them): does BiDualNet use the
#    other breast, and does it beat the single view from the same start with the same updates?
if [ "${DIAGNOSTICS:-1}" = 1 ]; then
  python model_zoo/diagnostics/bidual_aux_ablation.py "$DATA/synth-test.json" --split test
  rm -rf "$DATA/zoo-ft" && mkdir -p "$DATA/zoo-ft" && cp model_zoo/manifest.json model_zoo/*.onnx "$DATA/zoo-ft/"
  for task in single bidual; do
    mommi train "$task" --manifest "$DATA/synth-train.json" --manifest "$DATA/mias.json" --out "$DATA/runs/$task-ft" \
      --epochs 4 --lr 5e-4 --seed 0 --init-from "$DATA/runs/single/best.pt"
    mommi export "$task" "$DATA/runs/$task-ft/best.pt" --zoo "$DATA/zoo-ft"
    mommi predict "$task" --manifest "$DATA/synth-test.json" --split test --zoo "$DATA/zoo-ft" \
      --out "$DATA/eval-ft/$task-synth-test/predictions.json"
    mommi eval --manifest "$DATA/synth-test.json" --split test --out "$DATA/eval-ft/$task-synth-test" \
      --predictions "$DATA/eval-ft/$task-synth-test/predictions.json"
  done
fi

# 8. the malignancy classifier, last (paper): gold patches + the patches the shipped chain detects in
#    the training images; one run per loss weighting (learned, binary only, fixed 0.1..0.9) for the
#    comparison in its card, the learned one shipped, calibrated on the validation patches
TRAIN_DETS=("$DATA/eval/fusion-synth-train-all/predictions.json" "$DATA/eval/fusion-mias-all/predictions.json")
mommi predict fusion --manifest "$DATA/synth-train.json" --split all --out "${TRAIN_DETS[0]}"
mommi predict fusion --manifest "$DATA/mias.json" --split all --out "${TRAIN_DETS[1]}"
SOURCES=(--manifest "$DATA/synth-train.json" --manifest "$DATA/mias.json"
         --detections "${TRAIN_DETS[0]}" --detections "${TRAIN_DETS[1]}")
for variant in learned binary fixed-0.1 fixed-0.3 fixed-0.5 fixed-0.7 fixed-0.9; do
  case $variant in
    fixed-*) weighting=(--loss-weighting fixed --classification-weight "${variant#fixed-}") ;;
    *) weighting=(--loss-weighting "$variant") ;;
  esac
  mommi train malignancy "${SOURCES[@]}" "${weighting[@]}" --out "$DATA/runs/malignancy-$variant" \
    --epochs "$CLS_EPOCHS" --batch-size 16 --lr 1e-3 --seed 0 --cache "$DATA/patch-cache"
  rm -rf "$DATA/zoo-cls-$variant" && mkdir -p "$DATA/zoo-cls-$variant"
  mommi export malignancy "$DATA/runs/malignancy-$variant/best.pt" --zoo "$DATA/zoo-cls-$variant"
  mommi eval-malignancy --manifest "$DATA/synth-test.json" --split test \
    --detections "$DATA/eval/fusion-synth-test/predictions.json" --zoo "$DATA/zoo-cls-$variant" \
    --out "$DATA/eval/comparison-malignancy-$variant-synth-test"
done
mommi export malignancy "$DATA/runs/malignancy-learned/best.pt" --zoo model_zoo
mommi zoo calibrate "${SOURCES[@]}" --split val --zoo model_zoo
mommi eval-malignancy --manifest "$DATA/synth-test.json" --split test \
  --detections "$DATA/eval/fusion-synth-test/predictions.json" --out "$DATA/eval/malignancy-synth-test"
mommi eval-malignancy --manifest "$DATA/mias.json" --split test --detections "${TRAIN_DETS[1]}" \
  --out "$DATA/eval/malignancy-mias"

# 9. real films first: every detection branch on the MIAS women it was not trained on (val and test splits;
#    the cards lead with these), and the default reporting threshold set on them: the lowest score with
#    <= 0.5 false marks per image
for task in single bidual fusion; do
  mommi predict "$task" --manifest "$DATA/mias.json" --split all --out "$DATA/eval/$task-mias-heldout/predictions.json"
  mommi eval --manifest "$DATA/mias.json" --split val,test --predictions "$DATA/eval/$task-mias-heldout/predictions.json" \
    --out "$DATA/eval/$task-mias-heldout"
done
mommi zoo operating-point --manifest "$DATA/mias.json" --predictions "$DATA/eval/fusion-mias-heldout/predictions.json" \
  --splits val,test --max-fppi 0.5 --zoo model_zoo \
  --set-on "mini-MIAS subset in ../shared/data/mias (scanned-film MLO views, read by the bilateral branch): the val and test splits of 'mommi data import mias --seed 0', 22 women whose films the detection models were not trained on (val chose the checkpoints)"

# 10. the training checkpoints of the shipped models (fine-tuning from feedback starts from them), then metrics
#     into the manifest, the model cards (real films first, with the operating point) and model_zoo/ablation.md
mkdir -p model_zoo/checkpoints
for pair in nipple-lite:nipple single-lite:single bidual-lite:bidual ipsidual-lite:ipsidual fusion-lite:fusion \
            malignancy-lite:malignancy-learned; do
  cp "$DATA/runs/${pair#*:}/best.pt" "model_zoo/checkpoints/${pair%%:*}.pt"
done
mommi zoo record-metrics --zoo model_zoo --eval "$DATA/eval"

# 11. the regression test's expected findings on the demo study follow the new models
python Testing/regression/record_expected.py
