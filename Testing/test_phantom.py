"""The synthetic phantom: deterministic, loadable, truthful, and carrying the cues."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.data.importers.synthetic import import_synthetic
from mommi.data.manifest import Manifest
from mommi.data.phantom.config import DEFAULT_PHANTOM, PHANTOMS, ImageSize, PhantomConfig
from mommi.data.phantom.cues import measure_cues, roc_auc
from mommi.data.phantom.dicom_out import VARIANTS
from mommi.data.phantom.study import make_study
from mommi.data.synth import synthesize
from mommi.study import HANGING_ORDER, load_study

#: a coarser detector than `lite` keeps the statistical tests fast
TEST_SIZE = ImageSize("test", 1.0, 300, 240)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, 6, seed=11, normal_fraction=0.34, variant="mixed")
    return out


def test_same_seed_same_bytes_other_seed_other_pixels(tmp_path: Path) -> None:
    a = synthesize(tmp_path / "a", 2, seed=5)
    b = synthesize(tmp_path / "b", 2, seed=5)
    c = synthesize(tmp_path / "c", 2, seed=6)
    for fa, fb in zip(a, b):
        for name in ("L_CC.dcm", "R_MLO.dcm", "truth.json"):
            assert (fa / name).read_bytes() == (fb / name).read_bytes()
    assert (a[0] / "L_CC.dcm").read_bytes() != (c[0] / "L_CC.dcm").read_bytes()


def test_normal_fraction_is_exact(synth_dir: Path) -> None:
    truths = [json.loads(p.read_text()) for p in sorted(synth_dir.glob("*/truth.json"))]
    assert len(truths) == 6
    assert sum(t["normal"] for t in truths) == 2
    for t in truths:
        assert (len(t["masses_3d"]) == 0) == t["normal"]


def test_every_study_loads_back_with_the_right_views(synth_dir: Path) -> None:
    for folder in sorted(p for p in synth_dir.iterdir() if p.is_dir()):
        truth = json.loads((folder / "truth.json").read_text())
        study = load_study(folder)
        assert set(study.images) == set(HANGING_ORDER) and not study.errors
        for view, image in study.images.items():
            assert image.path.name == truth["views"][view.value]["file"]
            assert image.spacing is not None
            assert image.spacing.row_mm == pytest.approx(
                truth["pixel_mm"] * (1.08 if truth["header_variant"] == "imager-spacing" else 1.0)
            )
            # the loader puts the chest wall on the left exactly when the phantom mirrored the view
            assert image.to_model is not None
            assert image.to_model.flip_horizontal == truth["views"][view.value]["geometry"]["mirrored"]


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "standard"])
def test_header_variants_decode_to_the_same_image(tmp_path: Path, variant: str) -> None:
    standard = load_study(synthesize(tmp_path / "s", 1, seed=2)[0])
    other = load_study(synthesize(tmp_path / variant, 1, seed=2, variant=variant)[0])
    for view, image in standard.images.items():
        a, b = image.pixels, other.images[view].pixels
        if variant == "voi-lut":
            a = np.power(a, 0.8)  # the LUT written is a 0.8 gamma
        assert np.max(np.abs(a - b)) < 2.5 / 4095


def _project(center_mm: list[float], geometry: dict, pixel_mm: float, cols: int) -> tuple[float, float]:
    """Independent re-statement of the projection documented in truth.json."""
    x, y, z = center_mm
    angle = np.deg2rad(geometry["angle_deg"])
    col = x / pixel_mm
    row = geometry["nipple_row"] - (y * np.cos(angle) + z * np.sin(angle)) / pixel_mm
    return (cols - 1 - col if geometry["mirrored"] else col), row


def test_truth_boxes_contain_the_projected_masses(synth_dir: Path) -> None:
    checked = brighter = 0
    for truth_path in sorted(synth_dir.glob("*/truth.json")):
        truth = json.loads(truth_path.read_text())
        study = load_study(truth_path.parent)
        for mass in truth["masses_3d"]:
            for projection in ("CC", "MLO"):
                key = f"{mass['laterality']}-{projection}"
                view = truth["views"][key]
                (entry,) = [m for m in view["masses"] if m["id"] == mass["id"]]
                x0, y0, x1, y1 = entry["box"]
                col, row = _project(mass["center_mm"], view["geometry"], truth["pixel_mm"], view["cols"])
                assert x0 <= col <= x1 and y0 <= row <= y1, (truth_path, key, entry["box"], (col, row))
                labels = cv2.imread(str(truth_path.parent / view["mask_file"]), cv2.IMREAD_UNCHANGED)
                mask = labels == mass["id"]
                ys, xs = np.nonzero(mask)
                assert [xs.min(), ys.min(), xs.max(), ys.max()] == entry["box"]
                assert mask.sum() == entry["area_px"]
                # the drawn mass is about as large as the 3D object (projected area vs its radii)
                area_mm2 = entry["area_px"] * truth["pixel_mm"] ** 2
                assert 0.2 < area_mm2 / (np.pi * (mass["diameter_mm"] / 2) ** 2) < 3.0
                pixels = study.images[next(v for v in study.images if v.value == key)].pixels
                ring = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
                brighter += pixels[mask].mean() > pixels[ring].mean()
                checked += 1
    assert checked >= 8
    assert brighter / checked >= 0.8


def test_nipple_lies_at_the_breast_tip(synth_dir: Path) -> None:
    for truth_path in sorted(synth_dir.glob("*/truth.json")):
        truth = json.loads(truth_path.read_text())
        study = load_study(truth_path.parent)
        for view, image in study.images.items():
            x, y = truth["views"][view.value]["nipple"]
            assert image.pixels is not None
            inside = image.pixels[int(round(y)), int(round(x))]
            step = -12 if truth["views"][view.value]["geometry"]["mirrored"] else 12
            outside = image.pixels[int(round(y)), int(round(x)) + step]
            assert inside > 0.1 > outside  # breast at the nipple, air just beyond it


def test_roc_auc_hand_computed() -> None:
    assert roc_auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert roc_auc(np.array([1.0]), np.array([1.0])) == 0.5  # a tie counts one half
    assert roc_auc(np.array([2.0, 0.0]), np.array([1.0, 3.0])) == 0.25


def test_the_multi_view_cues_exist() -> None:
    """Issue requirement: nipple distances agree within 15% for >= 90% of masses, and a
    bilateral difference separates masses from normal tissue better than one view."""
    config = PhantomConfig()
    studies = [make_study(np.random.default_rng([21, i]), config, TEST_SIZE, normal=i % 5 == 0) for i in range(40)]
    report = measure_cues(studies, TEST_SIZE.pixel_mm)
    assert report.masses >= 25
    assert report.nipple_distance_within_15pct >= 0.9
    assert report.bilateral_auc > report.single_view_auc


def test_cli_synth_inspect_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    assert main(["synth", "--studies", "2", "--out", str(out), "--seed", "1", "--json"]) == exit_codes.OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["studies"] == 2
    assert main(["study", "inspect", str(out)]) == exit_codes.OK
    assert "2 studies, 8 views" in capsys.readouterr().out
    manifest_path = tmp_path / "m.json"
    assert main(["data", "import", "synthetic", str(out), "--out", str(manifest_path)]) == exit_codes.OK
    manifest = Manifest.read(manifest_path)
    assert len(manifest.records) == 8 and manifest.split_seed == 0
    assert {r.split for r in manifest.records} <= {"train", "val", "test"}
    with_mass = [r for r in manifest.records if r.findings]
    assert all(r.findings[0].mask_path for r in with_mass)


def test_cli_synth_rejects_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--studies", "0", "--out", str(tmp_path)]) == exit_codes.USAGE
    assert main(["synth", "--studies", "1", "--out", str(tmp_path), "--normal-fraction", "2"]) == exit_codes.USAGE
    assert (
        main(["data", "import", "synthetic", str(tmp_path / "none"), "--out", str(tmp_path / "m.json")])
        == exit_codes.PROBLEMS
    )
    assert "no truth.json" in capsys.readouterr().err


def test_synthetic_importer_matches_truth(synth_dir: Path) -> None:
    manifest = import_synthetic(synth_dir)
    assert len(manifest.records) == 24
    masses = sum(len(r.findings) for r in manifest.records)
    truths = [json.loads(p.read_text()) for p in synth_dir.glob("*/truth.json")]
    assert masses == sum(2 * len(t["masses_3d"]) for t in truths)  # each mass in both views of its breast


# ------------------------------------------------------------------ phantom versions


def test_phantom_versions_default_to_the_one_the_zoo_learned(tmp_path: Path) -> None:
    """v1 stays the default (the shipped models and the demo regression were made with it)."""
    assert DEFAULT_PHANTOM == "v1" and PHANTOMS["v1"] == PhantomConfig()
    default = synthesize(tmp_path / "default", 1, seed=5)
    v1 = synthesize(tmp_path / "v1", 1, seed=5, phantom="v1")
    assert (default[0] / "L_CC.dcm").read_bytes() == (v1[0] / "L_CC.dcm").read_bytes()
    assert json.loads((tmp_path / "v1" / "synth.json").read_text())["phantom"] == "v1"
    with pytest.raises(ValueError, match="unknown phantom"):
        synthesize(tmp_path / "x", 1, phantom="v9")


def test_phantom_v2_masses_are_the_size_of_real_ones_and_deterministic(tmp_path: Path) -> None:
    """v2: log-normal diameters around 18 mm within 4-40 mm (mini-MIAS: median 19.6 mm), the same
    bytes for the same seed; and masses that replace dense tissue stand out less than in fat."""
    config = PHANTOMS["v2"]
    diameters = [
        m.diameter_mm
        for i in range(60)
        for m in make_study(np.random.default_rng([31, i]), config, TEST_SIZE, normal=False).masses
    ]
    assert len(diameters) >= 50 and all(4.0 <= d <= 40.0 + 1e-9 for d in diameters)
    assert 14.0 <= float(np.median(diameters)) <= 24.0
    a = synthesize(tmp_path / "a", 1, seed=8, phantom="v2")
    b = synthesize(tmp_path / "b", 1, seed=8, phantom="v2")
    assert (a[0] / "R_MLO.dcm").read_bytes() == (b[0] / "R_MLO.dcm").read_bytes()


def test_phantom_v2_keeps_the_ipsilateral_cue_and_its_masses_are_subtler() -> None:
    """The same mass at the same nipple distance in CC and MLO; and with real-sized, real-contrast masses a
    single view separates them from normal tissue less well than in v1 (the bilateral cue weakens too:
    README, "phantom versions")."""
    v1 = [make_study(np.random.default_rng([21, i]), PHANTOMS["v1"], TEST_SIZE, normal=i % 5 == 0) for i in range(40)]
    v2 = [make_study(np.random.default_rng([21, i]), PHANTOMS["v2"], TEST_SIZE, normal=i % 5 == 0) for i in range(40)]
    before, after = measure_cues(v1, TEST_SIZE.pixel_mm), measure_cues(v2, TEST_SIZE.pixel_mm)
    assert after.nipple_distance_within_15pct >= 0.9
    assert after.single_view_auc < before.single_view_auc
