"""The realism report (`mommi synth --realism-report`): its figures on known inputs and a tiny set.

Known answers first (a power-law field of known exponent, patch sets that are or are
not different), then the whole report on 2 lite studies against a few real MIAS films
(skipped where the films are absent) and against a fixture-only DICOM "real" folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.realism import report as realism_report
from mommi.data.realism.classifier import logistic_fit_predict
from mommi.data.realism.crossval import balanced_indices, cross_validate, patient_folds
from mommi.data.realism.masses import circle_region, enclosing_diameter_mm, mass_contrast
from mommi.data.realism.patches import PatchSet
from mommi.data.realism.report import RealismSettings, build_report, discriminate, synthetic_folders
from mommi.data.realism.resample import analysed_image, resample, square_positions
from mommi.data.realism.spectrum import image_spectrum, power_law_field, radial_power_spectrum
from mommi.data.realism.statistics import intensity_statistics
from mommi.data.synth import synthesize

#: settings small enough for a test: 2 patients per synthetic side, so 2 folds
TINY = RealismSettings(
    studies=2, sizes=("lite",), seed=3, folds=2, cnn_epochs=1, bootstrap=50, patches_per_image=4, rois_per_image=2
)


# ------------------------------------------------------------------ spectrum
@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_beta_of_a_power_law_field_comes_back(beta: float) -> None:
    field = power_law_field((512, 512), beta, np.random.default_rng(4))
    breast = circle_region(field.shape, (256, 256), 250)  # ROIs must lie inside this "breast"
    result = image_spectrum(field, breast, np.random.default_rng(0))
    assert result is not None and result.rois == 8
    assert abs(result.beta - beta) <= 0.2, result.beta


def test_beta_distinguishes_smooth_from_busy_texture() -> None:
    smooth = image_spectrum(
        power_law_field((384, 384), 3.5, np.random.default_rng(1)), np.ones((384, 384), bool), np.random.default_rng(0)
    )
    busy = image_spectrum(
        power_law_field((384, 384), 1.5, np.random.default_rng(1)), np.ones((384, 384), bool), np.random.default_rng(0)
    )
    assert smooth is not None and busy is not None and smooth.beta - busy.beta > 1.5


def test_spectrum_needs_a_square_roi_and_a_breast() -> None:
    with pytest.raises(ValueError, match="square"):
        radial_power_spectrum(np.zeros((64, 32)))
    assert image_spectrum(np.zeros((100, 100)), np.ones((100, 100), bool), np.random.default_rng(0)) is None


def test_resampling_uses_each_images_spacing() -> None:
    assert resample(np.zeros((600, 480), np.float32), (0.5, 0.5)).shape == (1500, 1200)
    assert resample(np.zeros((3000, 2400), np.float32), (0.1, 0.1)).shape == (1500, 1200)
    labels = resample(
        np.kron(np.array([[0, 3], [5, 0]], np.uint8), np.ones((10, 10), np.uint8)), (0.1, 0.1), nearest=True
    )
    assert labels.shape == (10, 10) and set(np.unique(labels)) == {0, 3, 5}
    mask = np.zeros((20, 20), bool)
    mask[2:12, 3:13] = True
    assert square_positions(mask, 10).tolist() == [[2, 3]]


# ------------------------------------------------------------------ statistics and masses
def test_intensity_statistics_of_a_gaussian() -> None:
    values = np.random.default_rng(0).normal(0.5, 0.1, 200_000)
    stats = intensity_statistics(values)
    assert stats["mean"] == pytest.approx(0.5, abs=1e-3) and stats["std"] == pytest.approx(0.1, abs=1e-3)
    assert abs(stats["skewness"]) < 0.02 and abs(stats["kurtosis"]) < 0.05
    assert stats["p5"] < stats["p50"] < stats["p95"]


def test_mass_contrast_and_diameter() -> None:
    image = np.full((200, 200), 0.5)
    disk = circle_region(image.shape, (100, 100), 20)
    image[disk] = 0.6
    assert mass_contrast(image, disk) == pytest.approx(0.2)
    assert enclosing_diameter_mm(disk) == pytest.approx(41 * 0.2, abs=0.2)  # 2 x 20 px + 1 at 0.2 mm
    assert np.isnan(mass_contrast(image, np.zeros_like(disk)))


# ------------------------------------------------------------------ discriminators
def _patch_sets(different: bool, patients: int = 12, per_patient: int = 12) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two classes of 64 x 64 patches; the second is smoother and brighter when ``different``."""
    rng = np.random.default_rng(9)
    patches, labels, owners = [], [], []
    for cls in (0, 1):
        for p in range(patients):
            for _ in range(per_patient):
                field = power_law_field((64, 64), 3.0 if (cls and different) else 1.5, rng)
                patches.append(np.clip(0.5 + (0.15 if (cls and different) else 0.0) + 0.08 * field, 0, 1))
                labels.append(cls)
                owners.append(f"{cls}-{p}")
    return np.stack(patches).astype(np.float32), np.array(labels), owners


def test_patient_folds_keep_a_patient_together_and_classes_balanced() -> None:
    _, labels, owners = _patch_sets(True, patients=6, per_patient=2)
    folds = patient_folds(owners, labels, 3, seed=0)
    for owner in set(owners):
        assert len({f for f, o in zip(folds, owners) if o == owner}) == 1
    for k in range(3):
        assert sorted(labels[folds == k].tolist()).count(1) == 4
    keep = balanced_indices(np.r_[np.zeros(10, int), np.ones(3, int)], seed=0)
    assert keep.size == 6


def test_cnn_discriminator_separates_different_patches_and_not_identical_ones() -> None:
    pytest.importorskip("torch")
    from mommi.train.realism_discriminator import fit_predict

    def fit(a: np.ndarray, b: np.ndarray, c: np.ndarray, seed: int) -> np.ndarray:
        return fit_predict(a, b, c, seed, epochs=2)

    x, labels, owners = _patch_sets(True, patients=10, per_patient=6)
    different = cross_validate(x, labels, owners, fit, seed=0, bootstrap=100)
    assert different["auc"] >= 0.95 and different["ci"][0] > 0.8
    x, labels, owners = _patch_sets(False, patients=10, per_patient=6)
    same = cross_validate(x, labels, owners, fit, seed=0, bootstrap=100)
    assert abs(same["auc"] - 0.5) < 0.15 and same["ci"][0] < 0.5 < same["ci"][1]


def test_texture_discriminator_separates_different_patches_and_not_identical_ones() -> None:
    from mommi.data.realism.classifier import texture_features

    for different, check in ((True, lambda auc: auc >= 0.95), (False, lambda auc: abs(auc - 0.5) < 0.15)):
        x, labels, owners = _patch_sets(different)
        features = texture_features(PatchSet(x, owners, list(range(len(owners)))), with_glcm=True)
        result = cross_validate(features, labels, owners, logistic_fit_predict, seed=0, bootstrap=100)
        assert check(result["auc"]), (different, result["auc"])


def test_without_torch_the_cnn_is_reported_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = realism_report.importlib.util.find_spec
    monkeypatch.setattr(
        realism_report.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "torch" else real_find_spec(name, *args),
    )
    cnn, reason = realism_report._cnn()
    assert cnn is None and "torch is not installed" in reason
    x, labels, owners = _patch_sets(True, patients=5, per_patient=2)
    sides = []
    for cls in (0, 1):
        index = np.flatnonzero(labels == cls)
        patches = PatchSet(x[index], [owners[i] for i in index], list(index))
        features = np.zeros((index.size, 3)) + cls
        sides.append(realism_report.SideFigures(None, patches, features))  # type: ignore[arg-type]
    result = discriminate(sides[0], sides[1], "a", "b", RealismSettings(), cnn, reason)
    assert result["cnn"]["auc"] is None and "not run" in result["cnn"]["reason"]
    assert result["texture"]["auc"] is not None


# ------------------------------------------------------------------ the whole report
def _tiny_mias(mias_dir: Path, folder: Path, patients: int = 8) -> Path:
    """A few patients of the real films (both breasts) with the original Info.txt."""
    folder.mkdir()
    shutil.copy(mias_dir / "Info.txt", folder / "Info.txt")
    copied = 0
    for number in range(1, 300, 2):
        pair = [mias_dir / f"mdb{n:03d}.pgm" for n in (number, number + 1)]
        if all(p.is_file() for p in pair):
            for p in pair:
                shutil.copy(p, folder / p.name)
            copied += 1
            if copied == patients:
                break
    return folder


def _check_schema(report: dict, sizes: tuple[str, ...]) -> None:
    assert report["schema"] == "mommi-realism-report" and report["version"] == 1
    assert set(report["figures"]) == {"real", *sizes}
    for side in report["figures"].values():
        assert {"spectrum_beta", "intensity", "texture", "mass_diameter_mm", "mass_contrast", "counts"} <= set(side)
        assert set(side["intensity"]) == {"mean", "std", "skewness", "kurtosis", "p5", "p50", "p95"}
        assert "contrast_d1" in side["texture"]["features"] and "correlation_d4" in side["texture"]["features"]
    assert set(report["discriminators"]) == {*sizes, "real_vs_real"}
    for entry in report["discriminators"].values():
        assert {"cnn", "texture"} <= set(entry)
    assert {"seed", "studies", "folds", "bootstrap", "patch_px", "roi_px"} <= set(report["settings"])
    assert report["software"]["numpy"] and "targets" in report


def test_report_on_real_films_files_schema_and_determinism(mias_dir: Path, tmp_path: Path) -> None:
    real = _tiny_mias(mias_dir, tmp_path / "mias")
    first = build_report(real, tmp_path / "a", TINY)
    _check_schema(first, ("lite",))
    figures = first["figures"]
    assert first["real"]["kind"] == "mias" and first["real"]["patients"] == 8
    assert 2.0 < figures["real"]["spectrum_beta"]["value"] < 4.0  # real films: beta ~ 3
    assert figures["real"]["mass_diameter_mm"]["n"] >= 1 and figures["lite"]["counts"]["images"] == 8
    assert first["discriminators"]["lite"]["texture"]["auc"] is not None
    text = (tmp_path / "a" / "realism.md").read_text()
    assert "| figure | real | synthetic lite | synthetic clinical | target |" in text
    assert "power-spectrum slope beta" in text and "real vs real" in text
    on_disk = json.loads((tmp_path / "a" / "realism.json").read_text())
    assert on_disk["figures"]["real"]["spectrum_beta"]["value"] == pytest.approx(
        figures["real"]["spectrum_beta"]["value"]
    )
    build_report(real, tmp_path / "b", TINY)
    assert (tmp_path / "a" / "realism.json").read_bytes() == (tmp_path / "b" / "realism.json").read_bytes()
    assert (tmp_path / "a" / "realism.md").read_bytes() == (tmp_path / "b" / "realism.md").read_bytes()


def test_synthetic_studies_are_reused(tmp_path: Path) -> None:
    folders, reused = synthetic_folders(tmp_path, "lite", 2, seed=3)
    assert not reused and len(folders) == 2
    stamp = (folders[0] / "truth.json").stat().st_mtime_ns
    again, reused = synthetic_folders(tmp_path, "lite", 1, seed=3)
    assert reused and again == folders[:1] and (folders[0] / "truth.json").stat().st_mtime_ns == stamp


def test_cli_report_against_a_dicom_folder_without_mias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = tmp_path / "real"
    synthesize(real, 2, seed=11, size="lite")  # stands in for a folder of clinical DICOM studies
    out = tmp_path / "out"
    code = main(
        [
            "synth",
            "--realism-report",
            str(real),
            "--out",
            str(out),
            "--studies",
            "2",
            "--size",
            "lite",
            "--seed",
            "1",
            "--json",
        ]
    )
    assert code == exit_codes.OK
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["beta"]) == {"real", "lite"}
    report = json.loads((out / "realism.json").read_text())
    _check_schema(report, ("lite",))
    assert report["real"]["kind"] == "dicom" and report["real"]["images"] == 8
    assert "no mass outlines" in report["figures"]["real"]["mass_contrast"]["reason"]
    assert "fewer than 5 patients" in report["discriminators"]["lite"]["cnn"]["reason"]  # 2 women a side
    assert (out / "realism.md").is_file() and (out / "synthetic-lite-v3").is_dir()  # mommi synth's default phantom


def test_cli_synth_options_without_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path)]) == exit_codes.USAGE
    assert "--studies" in capsys.readouterr().err
    assert main(["synth", "--studies", "1", "--size", "both", "--out", str(tmp_path)]) == exit_codes.USAGE
    assert main(["synth", "--realism-report", str(tmp_path / "none"), "--out", str(tmp_path)]) == exit_codes.USAGE


def test_analysed_image_finds_the_breast() -> None:
    pixels = np.zeros((300, 200), np.float32)
    pixels[50:250, :120] = 0.6
    image = analysed_image("p", "x", pixels, (0.1, 0.1))
    assert image.pixels.shape == (150, 100) and image.mask[75, 20] and not image.mask[75, 90]
