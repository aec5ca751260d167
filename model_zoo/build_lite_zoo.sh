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
REAL_EPOCHS=${REAL_EPOCHS:-30}
mkdir -p "$DATA"

# 1. data: 400 synthetic training/validation studies (phantom v1), 200 unseen test studies, 300 studies of the
#    realistic phantom v3 (pre-training of the real-film recipe and the fusion network's data) and 100 unseen
#    ones, MIAS (seeded split; and every film for training)
[ -d "$DATA/synth-train" ] || mommi synth --studies 400 --out "$DATA/synth-train" --seed 100 --phantom v1
[ -d "$DATA/synth-test" ] || mommi synth --studies 200 --out "$DATA/synth-test" --seed 200 --phantom v1
[ -d "$DATA/synth-v3" ] || mommi synth --studies 300 --out "$DATA/synth-v3" --seed 100 --phantom v3
[ -d "$DATA/synth-v3-test" ] || mommi synth --studies 100 --out "$DATA/synth-v3-test" --seed 200 --phantom v3
mommi data import synthetic "$DATA/synth-train" --out "$DATA/synth-train.json" --fractions 0.9,0.1,0
mommi data import synthetic "$DATA/synth-test" --out "$DATA/synth-test.json" --fractions 0,0,1
mommi data import synthetic "$DATA/synth-v3" --out "$DATA/synth-v3.json" --fractions 0.9,0.1,0
mommi data import synthetic "$DATA/synth-v3-test" --out "$DATA/synth-v3-test.json" --fractions 0,0,1
mommi data import mias "$MIAS" --out "$DATA/mias.json" --seed 0
mommi data import mias "$MIAS" --out "$DATA/mias-all.json" --fractions 1,0,0

# 2. training of the branches (lite configuration, CPU is enough).
#    The mass maps (single view, BiDualNet) follow the real-film recipe: pre-trained on the phantom v3, then
#    fine-tuned on real films with strong augmentation for a fixed number of epochs (the last kept). Real films
#    decide: a 5-fold cross-validation by woman of the same recipe gives their real-film numbers (eval/*-mias-cv),
#    and the shipped networks are the recipe on every MIAS film.
#    IpsiDualNet needs CC + MLO pairs with nipples, so it learns from the synthetic studies only.
#    The nipple detector learns the simple phantom, then the realistic one (whose nipples lie where the
#    first one's did not look: the detector of phantom v1 alone erred by a median 5 mm on phantom v3).
mommi train nipple --manifest "$DATA/synth-train.json" --out "$DATA/runs/pre-nipple" --epochs 10 --seed 0
mommi train nipple --manifest "$DATA/synth-v3.json" --out "$DATA/runs/nipple" --epochs 8 --seed 0 \
  --init-from "$DATA/runs/pre-nipple/best.pt"
mommi train single --manifest "$DATA/synth-v3.json" --out "$DATA/runs/pre-single" --epochs 8 --seed 0
mommi train bidual --manifest "$DATA/synth-v3.json" --out "$DATA/runs/pre-bidual" --epochs 6 --lr 1e-3 --seed 0 \
  --init-from "$DATA/runs/pre-single/best.pt"
REAL_FILMS=(--manifest "$DATA/mias-all.json" --epochs "$REAL_EPOCHS" --lr 1e-3 --seed 0)
for task in single bidual; do
  mommi train "$task" --cv 5 "${REAL_FILMS[@]}" --out "$DATA/eval/$task-mias-cv" --init-from "$DATA/runs/pre-$task/best.pt"
  mommi train "$task" --keep last "${REAL_FILMS[@]}" --out "$DATA/runs/$task" --init-from "$DATA/runs/pre-$task/best.pt"
done
mommi train ipsidual --manifest "$DATA/synth-train.json" --out "$DATA/runs/ipsidual" --epochs "$IPSI_EPOCHS" --lr 1e-3 --seed 0

# 3. export to ONNX with a parity check, into model_zoo/ (manifest entries and cards)
for task in nipple single bidual ipsidual; do
  mommi export "$task" "$DATA/runs/$task/best.pt" --zoo model_zoo
done

# 4. the fusion network, as in the paper: trained last, on the maps the exported branches make,
#    with IpsiDualNet's trunk as its frozen encoder; on the realistic phantom v3 (it needs four views)
mommi train fusion --manifest "$DATA/synth-v3.json" --out "$DATA/runs/fusion" --epochs 8 --seed 0 \
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
done
# the phantom-pretrained networks on real films before they saw one (what the phantom alone transfers)
rm -rf "$DATA/zoo-phantom" && mkdir -p "$DATA/zoo-phantom" && cp model_zoo/manifest.json model_zoo/*.onnx "$DATA/zoo-phantom/"
for task in single bidual; do
  mommi export "$task" "$DATA/runs/pre-$task/best.pt" --zoo "$DATA/zoo-phantom"
  evaluate "$task" mias-all all "$task-mias-phantom-only" --zoo "$DATA/zoo-phantom"
done
for task in ipsidual fusion; do
  evaluate "$task" synth-test test "$task-synth-test"
done
# the realistic phantom's unseen studies: where the four-view chain (which no real set here can test) is read
for task in single bidual ipsidual fusion; do
  evaluate "$task" synth-v3-test test "$task-synth-v3-test"
done
evaluate nipple synth-test test nipple-synth-test
evaluate nipple synth-v3-test test nipple-synth-v3-test

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
# does it separate real benign from malignant masses? (the women of the MIAS split it was not trained on);
# unless it does, the product withholds its probability and BI-RADS estimate and says why
mommi zoo real-masses --manifest "$DATA/mias.json" --splits val,test --zoo model_zoo

# 9. real films first: the default reporting threshold is set on the cross-validated real films (every MIAS
#    film read by the bilateral branch of the fold that never saw its woman; the chain reads MIAS pairs with it):
#    the lowest score with <= 0.5 false marks per image, at most 2 marks per view (a four-view exam shows at most
#    8). The fusion cannot be cross-validated on MIAS (no CC views: the chain falls back to the bilateral branch).
mommi zoo operating-point --manifest "$DATA/mias-all.json" --predictions "$DATA/eval/bidual-mias-cv/predictions.json" \
  --splits train --max-fppi 0.5 --max-marks-per-view 2 --zoo model_zoo \
  --set-on "mini-MIAS subset in ../shared/data/mias (216 scanned-film MLO views of 108 women, 39 masses), 5-fold cross-validation by woman of the bilateral branch's recipe (every film read by the fold that never saw its woman)"

# 10. the training checkpoints of the shipped models (fine-tuning from feedback starts from them), then metrics
#     into the manifest, the model cards (real films first, with the operating point) and model_zoo/ablation.md
mkdir -p model_zoo/checkpoints
for pair in nipple-lite:nipple single-lite:single bidual-lite:bidual ipsidual-lite:ipsidual fusion-lite:fusion \
            malignancy-lite:malignancy-learned; do
  cp "$DATA/runs/${pair#*:}/best.pt" "model_zoo/checkpoints/${pair%%:*}.pt"
done
mommi zoo record-metrics --zoo model_zoo --eval "$DATA/eval" --made-by "bash model_zoo/build_lite_zoo.sh"

# 11. the regression test's expected findings on the demo study follow the new models
python Testing/regression/record_expected.py
