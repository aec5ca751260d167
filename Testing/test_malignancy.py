"""Malignancy classifier: patches, labels, the multi-task loss, training on gold + detected patches,
export with parity, calibration, evaluation, and the runtime classifying batches of any size."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mommi.data.manifest import Finding, Manifest, Record
from mommi.data.patches import label_detections, load_samples, select_detections
from mommi.findings.birads import BIRADS_VALUES
from mommi.preprocess.patches import PatchError, PatchSpec, cut_patch, cut_patches


def test_patch_is_centred_on_the_box_and_zero_padded_outside_the_image() -> None:
    pixels = np.zeros((200, 300), np.float32)
    pixels[90:110, 140:160] = 1.0  # a 20-pixel mass centred at (150, 100)
    spec = PatchSpec(32, context=1.0, min_side=8)
    patch = cut_patch(pixels, [140, 90, 160, 110], spec)  # window side 40 around the mass
    assert patch.shape == (32, 32) and patch.dtype == np.float32
    bright = np.argwhere(patch > 0.5)  # normalised: 1 -> 1, 0 -> -1
    assert bright.min(axis=0).tolist() == [8, 8] and bright.max(axis=0).tolist() == [23, 23]
    corner = cut_patch(np.ones((50, 50), np.float32), [0, 0, 10, 10], PatchSpec(16, context=1.0, min_side=8))
    assert corner[0, 0] == pytest.approx(-1.0) and corner[-1, -1] == pytest.approx(1.0)  # padding is black
    assert cut_patches(pixels, [], spec).shape == (0, 1, 32, 32)
    assert cut_patches(pixels, [[0, 0, 5, 5], [10, 10, 50, 40]], spec).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("box", [[10, 10, 10, 20], [5, 5, 1, 1], [0, 0, float("nan"), 4]])
def test_degenerate_boxes_are_refused_by_name(box: list[float]) -> None:
    with pytest.raises(PatchError, match="box"):
        cut_patch(np.zeros((20, 20), np.float32), box, PatchSpec(16))


def _record(findings: list[Finding]) -> Record:
    return Record(
        image_id="p/L-CC",
        patient_id="p",
        study_id="p",
        laterality="L",
        view="CC",
        image_path="x.dcm",
        source="test",
        findings=findings,
        split="train",
    )


def test_detected_patches_take_the_labels_of_the_mass_they_overlap() -> None:
    record = _record(
        [
            Finding("mass", [100, 100, 140, 140], pathology="malignant", birads="4C"),
            Finding("mass", [300, 300, 330, 330], pathology="benign", birads=None),
        ]
    )
    labels = label_detections(
        record,
        [
            [102, 101, 141, 139, 0.9],  # IoU ~0.9 with the malignant mass
            [300, 300, 345, 345, 0.8],  # IoU 0.44 with the benign one: too little
            [301, 301, 331, 331, 0.7],  # matches the benign mass, BI-RADS unknown
            [500, 500, 520, 520, 0.6],
        ],
    )  # nothing there
    assert labels[0] == (1.0, pytest.approx(BIRADS_VALUES["4C"]), True)
    assert labels[1] == (0.0, 0.0, False)  # not malignant, BI-RADS 1 (normal tissue)
    assert labels[2][0] == 0.0 and math.isnan(labels[2][1]) and labels[2][2]
    assert labels[3] == (0.0, 0.0, False)
    chosen = select_detections([[0, 0, 1, 1, 0.01], [0, 0, 1, 1, 0.5], [0, 0, 1, 1, 0.9]], 0.05, 1)
    assert chosen == [[0, 0, 1, 1, 0.9]]


torch = pytest.importorskip("torch", reason="PyTorch is in the train extra; the training tests need it")

from mommi.cli import exit_codes  # noqa: E402
from mommi.cli.main import main  # noqa: E402
from mommi.data.importers.synthetic import import_synthetic  # noqa: E402
from mommi.data.split import assign_splits  # noqa: E402
from mommi.data.synth import synthesize  # noqa: E402
from mommi.train.losses import malignancy_loss  # noqa: E402
from mommi.train.models.classifier import MalignancyNet  # noqa: E402


def test_losses_leave_unknown_labels_out_and_learned_weights_follow_kendall() -> None:
    logit = torch.tensor([2.0, -1.0, 0.5])
    birads = torch.tensor([0.9, 0.1, 0.5])
    malignant = torch.tensor([1.0, 0.0, float("nan")])
    value = torch.tensor([float("nan"), 0.0, 0.4])
    log_var = torch.tensor([0.3, -0.2])
    l1 = torch.nn.functional.binary_cross_entropy_with_logits(logit[:2], malignant[:2])
    l2 = torch.nn.functional.mse_loss(birads[1:], value[1:])
    assert malignancy_loss(logit, birads, malignant, value, "binary", log_var) == pytest.approx(float(l1))
    assert malignancy_loss(logit, birads, malignant, value, "fixed", log_var, 0.3) == pytest.approx(
        float(0.3 * l1 + 0.7 * l2)
    )
    kendall = math.exp(-0.3) * l1 + 0.5 * math.exp(0.2) * l2 + 0.5 * (0.3 - 0.2)
    assert malignancy_loss(logit, birads, malignant, value, "learned", log_var) == pytest.approx(float(kendall))
    nothing = torch.tensor([float("nan")] * 3)
    assert malignancy_loss(logit, birads, nothing, nothing, "fixed", log_var) == 0.0
    with pytest.raises(ValueError, match="weighting"):
        malignancy_loss(logit, birads, malignant, value, "manual", log_var)


def test_classifier_heads_and_configurations() -> None:
    model = MalignancyNet("lite").eval()
    logit, value = model(torch.randn(3, 1, 96, 96))
    assert logit.shape == value.shape == (3,)
    assert bool(((value >= 0) & (value <= 1)).all())
    full = MalignancyNet("full")  # DenseNet-121: blocks of 6, 12, 24 and 16 layers
    assert [len(b) for n, b in full.features.named_children() if n.startswith("denseblock")] == [6, 12, 24, 16]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small synthetic manifest and a detections file in `mommi predict` format: every mass found
    slightly off (IoU > 0.5), one well-scored false detection per view, one below the score floor."""
    root = tmp_path_factory.mktemp("malignancy")
    synthesize(root / "s", 6, seed=11, normal_fraction=0.0)
    manifest = assign_splits(import_synthetic(root / "s"), seed=0, fractions=(0.5, 0.5, 0.0))
    path = manifest.write(root / "m.json")
    images = {}
    for record in manifest.records:
        boxes = [
            [b[0] + 2, b[1] - 1, b[2] + 2, b[3] + 1, 0.9] for b in (f.box for f in record.findings if f.kind == "mass")
        ]
        boxes += [[20, 20, 80, 80, 0.5], [100, 20, 150, 70, 0.01]]
        images[record.image_id] = {"boxes": boxes}
    detections = root / "detections.json"
    detections.write_text(json.dumps({"schema": "mommi-predictions", "version": 1, "images": images}))
    return path, detections


def test_train_export_calibrate_evaluate_and_classify(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    manifest_path, detections = tiny_data
    manifest = Manifest.read(manifest_path)
    out, cache, zoo = tmp_path / "run", tmp_path / "cache", tmp_path / "zoo"
    args = [
        "train",
        "malignancy",
        "--manifest",
        str(manifest_path),
        "--detections",
        str(detections),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--cache",
        str(cache),
    ]
    assert main(args) == exit_codes.OK

    # the samples it was given: gold masses of the training split plus the detections above the
    # score floor; validation: detected patches only
    train_records = [r for r in manifest.records if r.split == "train"]
    val_records = [r for r in manifest.records if r.split == "val"]
    (train_file,) = cache.glob("patches-train-*.npz")
    (val_file,) = cache.glob("patches-val-*.npz")
    train, val = load_samples(train_file), load_samples(val_file)
    masses = sum(1 for r in train_records for f in r.findings if f.kind == "mass")
    assert (~train.detected).sum() == masses and train.detected.sum() == masses + len(train_records)
    assert val.detected.all() and len(val) == sum(1 for r in val_records for f in r.findings if f.kind == "mass") + len(
        val_records
    )
    assert train.matched.sum() == masses  # every shifted box inherits its mass's labels
    assert set(np.unique(train.malignant[~train.matched & train.detected])) == {0.0}
    stamp = train_file.stat().st_mtime_ns
    assert main([*args[:-4], "--out", str(tmp_path / "run2"), "--cache", str(cache)]) == exit_codes.OK
    assert train_file.stat().st_mtime_ns == stamp  # the sweep's second run reuses the cut patches

    assert main(["export", "malignancy", str(out / "best.pt"), "--zoo", str(zoo)]) == exit_codes.OK
    entry = json.loads((zoo / "manifest.json").read_text())["models"][0]
    assert entry["name"] == "malignancy-lite" and entry["parity_max_abs_diff"] < 1e-3
    assert [o["name"] for o in entry["outputs"]] == ["malignancy_logit", "birads"]
    assert entry["config"]["loss_weighting"] == "learned"

    from mommi.runtime.malignancy import MalignancyClassifier

    raw = MalignancyClassifier(zoo / "manifest.json", device="cpu", max_batch=4)
    assert not raw.calibrated and raw.temperature == 1.0
    assert (
        main(
            [
                "zoo",
                "calibrate",
                "--manifest",
                str(manifest_path),
                "--detections",
                str(detections),
                "--split",
                "all",
                "--zoo",
                str(zoo),
            ]
        )
        == exit_codes.OK
    )
    calibration = json.loads((zoo / "manifest.json").read_text())["models"][0]["calibration"]
    assert calibration["temperature"] > 0 and calibration["ece_after"] <= calibration["ece_before"] + 1e-9
    assert (zoo / calibration["plot"]).is_file()

    classifier = MalignancyClassifier(zoo / "manifest.json", device="cpu", max_batch=4)
    assert classifier.calibrated
    from mommi.data.records import load_record_image

    pixels = load_record_image(manifest, manifest.records[0]).pixels
    rng = np.random.default_rng(0)
    corners = rng.uniform(50, 300, (11, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(20, 60, (11, 2))], axis=1).tolist()
    together = classifier.classify(pixels, boxes)  # 11 boxes in chunks of 4
    one_by_one = [classifier.classify(pixels, [b])[0] for b in boxes]
    assert classifier.classify(pixels, []) == []
    assert [s.logit for s in together] == pytest.approx([s.logit for s in one_by_one], abs=1e-4)
    for score in together:
        assert 0.0 <= score.probability <= 1.0 and score.birads in BIRADS_VALUES and score.calibrated
        expected = 1.0 / (1.0 + math.exp(-score.logit / classifier.temperature))
        assert score.probability == pytest.approx(expected, abs=1e-5)

    report_dir = tmp_path / "eval"
    assert (
        main(
            [
                "eval-malignancy",
                "--manifest",
                str(manifest_path),
                "--detections",
                str(detections),
                "--split",
                "all",
                "--zoo",
                str(zoo),
                "--out",
                str(report_dir),
                "--bootstrap",
                "20",
            ]
        )
        == exit_codes.OK
    )
    report = json.loads((report_dir / "report.json").read_text())
    assert report["patches"] == sum(1 for r in manifest.records for f in r.findings if f.kind == "mass") + len(
        manifest.records
    )
    assert 0.0 <= report["auc"]["auc"] <= 1.0 and report["auc"]["ci95"][0] <= report["auc"]["ci95"][1]
    assert report["calibration"]["temperature"] == pytest.approx(calibration["temperature"])
    assert (report_dir / "roc.png").is_file() and (report_dir / "reliability.png").is_file()

    # the card: metrics, the loss-weighting comparison and the calibration, from the eval folder
    import shutil

    evals = tmp_path / "evals"
    shutil.copytree(report_dir, evals / "malignancy-synth-test")
    shutil.copytree(report_dir, evals / "comparison-malignancy-learned-synth-test")
    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals)]) == exit_codes.OK
    card = (zoo / "cards" / "malignancy-lite.md").read_text()
    assert "Research model, not for clinical use" in card
    assert f"{report['auc']['auc']:.3f}" in card and "multi-task, learned uncertainty weights" in card
    assert f"T = {calibration['temperature']:.3f}" in card
    recorded = json.loads((zoo / "manifest.json").read_text())["models"][0]["metrics"]["synth-test"]
    assert recorded["auc"]["auc"] == pytest.approx(report["auc"]["auc"])


def test_classifier_training_needs_detections(
    tiny_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest_path, _ = tiny_data
    assert (
        main(["train", "malignancy", "--manifest", str(manifest_path), "--out", str(tmp_path / "r"), "--epochs", "1"])
        == exit_codes.PROBLEMS
    )
    assert "--detections" in capsys.readouterr().err
