"""Real-film cross-validation by woman, training augmentation and duplicate suppression of candidates."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mommi.data.manifest import Finding, Manifest, Record
from mommi.findings.regions import Region, regions_from_probability, without_duplicates

torch = pytest.importorskip("torch", reason="PyTorch is in the train extra; training tests need it")

from mommi.cli import exit_codes  # noqa: E402
from mommi.cli.main import main  # noqa: E402
from mommi.data.importers.synthetic import import_synthetic  # noqa: E402
from mommi.data.split import assign_splits  # noqa: E402
from mommi.data.synth import synthesize  # noqa: E402
from mommi.train.augment import augment_views, random_display  # noqa: E402
from mommi.train.cross_validation import assign_folds, fold_manifest  # noqa: E402


def _women(n: int, with_mass: int) -> Manifest:
    records = []
    for i in range(n):
        for side in "LR":
            findings = [Finding("mass", [10, 10, 30, 30])] if i < with_mass and side == "L" else []
            records.append(
                Record(
                    f"p{i:03d}",
                    f"p{i:03d}",
                    f"p{i:03d}{side}",
                    "MLO",
                    side,
                    f"{i}{side}.pgm",
                    "test",
                    findings=findings,
                    split="test",
                )
            )
    return Manifest("test", "/nowhere", records)


def test_folds_keep_each_woman_whole_and_spread_the_masses() -> None:
    manifest = _women(108, 39)
    fold_of = assign_folds(manifest, 5, seed=0)
    assert set(fold_of) == {r.patient_id for r in manifest.records}
    assert sorted(Counter(fold_of.values()).values()) in ([21, 21, 22, 22, 22], [21, 21, 21, 22, 23])
    masses = Counter(fold_of[f"p{i:03d}"] for i in range(39))
    assert max(masses.values()) - min(masses.values()) <= 1  # 7 or 8 masses in every fold
    assert assign_folds(manifest, 5, seed=0) == fold_of and assign_folds(manifest, 5, seed=1) != fold_of
    held = fold_manifest(manifest, fold_of, 2)
    for record in held.records:  # both breasts of a woman on the same side, the original untouched
        assert record.split == ("test" if fold_of[record.patient_id] == 2 else "train")
    assert {r.split for r in manifest.records} == {"test"}
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(manifest, 1)


def test_augmentation_moves_every_input_with_the_target_and_keeps_display_range() -> None:
    rng = np.random.default_rng(3)
    main_view = np.zeros((64, 40), np.float32)
    main_view[20:30, 10:18] = 0.8
    target = (main_view > 0).astype(np.float32)
    aux = main_view.copy()
    for _ in range(20):
        out_main, out_target, out_aux = augment_views(main_view, target, aux, rng)
        assert set(np.unique(out_target)) <= {0.0, 1.0}
        assert out_main.min() >= 0.0 and out_main.max() <= 1.0 and out_aux is not None
        # the object stays under its target in both inputs (display changes intensity, not position)
        moved = out_target > 0
        if moved.sum() > 10:
            assert out_main[moved].mean() > out_main[~moved].mean() + 0.1
            assert out_aux[moved].mean() > out_aux[~moved].mean() + 0.1
    first = augment_views(main_view, target, aux, np.random.default_rng(7))
    again = augment_views(main_view, target, aux, np.random.default_rng(7))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # deterministic for a seed
    display = random_display(np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10), np.random.default_rng(0))
    assert display.min() >= 0.0 and display.max() <= 1.0


def test_two_peaks_of_one_mass_give_one_candidate() -> None:
    prob = np.zeros((80, 80), np.float32)
    yy, xx = np.mgrid[0:80, 0:80]
    prob += 0.8 * np.exp(-((xx - 36) ** 2 + (yy - 40) ** 2) / 60.0)
    prob += 0.7 * np.exp(-((xx - 46) ** 2 + (yy - 40) ** 2) / 60.0)  # second peak of the same blob
    prob += 0.6 * np.exp(-((xx - 10) ** 2 + (yy - 10) ** 2) / 10.0)  # a separate object
    regions = regions_from_probability(prob)
    assert len(regions) == 2
    assert regions[0].score > regions[1].score
    kept = without_duplicates(
        [
            Region((0, 0, 9, 9), 0.9, 100, (5, 5)),
            Region((1, 1, 10, 10), 0.5, 100, (6, 6)),
            Region((20, 20, 29, 29), 0.4, 100, (25, 25)),
        ]
    )
    assert [r.score for r in kept] == [0.9, 0.4]


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-cv")
    synthesize(root / "s", 4, seed=11, normal_fraction=0.25)
    return assign_splits(import_synthetic(root / "s"), seed=0, fractions=(1.0, 0.0, 0.0)).write(root / "m.json")


def test_keep_last_needs_no_validation_split(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "single",
        "--manifest",
        str(tiny_manifest),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--max-train",
        "4",
    ]
    assert main(args) == exit_codes.PROBLEMS  # no val split: early stopping has nothing to choose on
    assert main([*args, "--keep", "last"]) == exit_codes.OK
    assert [r.split(",")[0] for r in (out / "log.csv").read_text().splitlines()[1:]] == ["1", "2"]
    assert torch.load(out / "best.pt", weights_only=False)["epoch"] == 2


def test_cross_validation_scores_every_image_with_the_fold_that_never_saw_it(
    tiny_manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cv"
    args = [
        "train",
        "single",
        "--cv",
        "2",
        "--manifest",
        str(tiny_manifest),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-train",
        "4",
    ]
    assert main(args) == exit_codes.OK
    manifest = Manifest.read(tiny_manifest)
    summary = json.loads((out / "cv.json").read_text())
    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions["images"]) == {r.image_id for r in manifest.records}
    assert summary["froc"]["masses"] == sum(f.kind == "mass" for r in manifest.records for f in r.findings)
    assert summary["recipe"]["keep"] == "last" and len(summary["fold_rows"]) == 2
    for fold in range(2):  # a fold's network trained only on the other fold's women
        fold_records = Manifest.read(out / f"fold-{fold}" / "manifest.json").records
        held = {r.patient_id for r in fold_records if r.split == "test"}
        trained_on = {r.patient_id for r in fold_records if r.split == "train"}
        assert held and trained_on and not held & trained_on
    assert 0.0 <= summary["max_recall"]["recall"] <= 1.0
    assert main(args) == exit_codes.OK  # finished folds are kept, not retrained
    assert json.loads((out / "cv.json").read_text())["fold_rows"] == summary["fold_rows"]
    assert (
        main(["train", "nipple", "--cv", "2", "--manifest", str(tiny_manifest), "--out", str(tmp_path / "bad")])
        == exit_codes.PROBLEMS
    )
