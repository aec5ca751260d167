"""PNG/PGM research images with a JSON sidecar, and the real mini-MIAS files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

import dicom_factory as f
from mommi.errors import ConflictingLateralityError, SidecarError, UnreadablePixelDataError
from mommi.study import Laterality, View, load_studies, read_image


def _png(tmp_path: Path, name: str, sidecar: dict | None, bits: int = 16, chest_wall: str = "left") -> Path:
    stored = f.breast_phantom(120, 100, chest_wall, bits=12)
    path = tmp_path / name
    cv2.imwrite(str(path), stored if bits == 16 else (stored >> 4).astype(np.uint8))
    if sidecar is not None:
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))
    return path


def test_png_16bit_with_sidecar(tmp_path: Path) -> None:
    path = _png(
        tmp_path,
        "a.png",
        {"laterality": "R", "view": "CC", "pixel_spacing_mm": 0.1, "patient_id": "X1", "chest_wall": "right"},
        chest_wall="right",
    )
    image = read_image(path)
    assert image.view is View.R_CC and image.bits_stored == 12
    assert image.spacing is not None and image.spacing.row_mm == 0.1
    assert image.chest_wall_source == "sidecar (confirmed by the image)"
    assert image.to_model is not None and image.to_model.flip_horizontal


def test_pgm_8bit_with_stem_sidecar_and_combined_view(tmp_path: Path) -> None:
    path = _png(tmp_path, "b.pgm", None, bits=8)
    path.with_suffix(".json").write_text(json.dumps({"view": "L-MLO"}))
    image = read_image(path)
    assert image.view is View.L_MLO and image.bits_stored == 8
    assert image.spacing is None and any("no pixel spacing" in w for w in image.warnings)


def test_missing_sidecar(tmp_path: Path) -> None:
    with pytest.raises(SidecarError, match="needs a JSON sidecar"):
        read_image(_png(tmp_path, "c.png", None))


@pytest.mark.parametrize(
    "sidecar,message",
    [
        ({"laterality": "X", "view": "CC"}, "'laterality' must be"),
        ({"laterality": "L"}, "'view' is missing"),
        ({"laterality": "L", "view": "CC", "pixel_spacing_mm": 7}, "between 0.01 and 1 mm"),
        ({"laterality": "L", "view": "CC", "colour": "red"}, "unknown sidecar keys: colour"),
    ],
)
def test_invalid_sidecars(tmp_path: Path, sidecar: dict, message: str) -> None:
    with pytest.raises(SidecarError, match=re.escape(message)):
        read_image(_png(tmp_path, "d.png", sidecar))


def test_sidecar_that_is_not_json(tmp_path: Path) -> None:
    path = _png(tmp_path, "e.png", None)
    path.with_name("e.png.json").write_text("{laterality: L")
    with pytest.raises(SidecarError, match="not valid JSON"):
        read_image(path)


def test_sidecar_with_conflicting_laterality(tmp_path: Path) -> None:
    with pytest.raises(ConflictingLateralityError):
        read_image(_png(tmp_path, "g.png", {"laterality": "L", "view": "R-CC"}))


def test_damaged_png(tmp_path: Path) -> None:
    path = _png(tmp_path, "h.png", {"laterality": "L", "view": "CC"})
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(UnreadablePixelDataError, match="could not be decoded"):
        read_image(path)


# ----------------------------------------------------------------- real data
def _mias_pairs(mias_dir: Path, count: int) -> list[int]:
    """File numbers of the first ``count`` patients whose both breasts are in the subset."""
    numbers: list[int] = []
    for odd in range(1, 400, 2):
        if all((mias_dir / f"mdb{n:03d}.pgm").is_file() for n in (odd, odd + 1)):
            numbers += [odd, odd + 1]
        if len(numbers) == 2 * count:
            break
    return numbers


def _mias_with_sidecars(mias_dir: Path, tmp_path: Path, numbers: list[int]) -> list[Path]:
    """Link MIAS files into tmp with sidecars: odd numbers are left, even right, films mirrored
    (../shared/data/README.md; mommi.study.profiles.mias)."""
    paths = []
    for number in numbers:
        source = mias_dir / f"mdb{number:03d}.pgm"
        target = tmp_path / source.name
        target.symlink_to(source)
        patient = f"mias-{(number + 1) // 2:03d}"
        side = "L" if number % 2 else "R"
        sidecar = {"laterality": side, "view": "MLO", "pixel_spacing_mm": 0.2, "patient_id": patient}
        target.with_name(target.name + ".json").write_text(json.dumps(sidecar))
        paths.append(target)
    return paths


@pytest.mark.mias
def test_real_mias_images_load_through_the_pgm_path(mias_dir: Path, tmp_path: Path) -> None:
    _mias_with_sidecars(mias_dir, tmp_path, _mias_pairs(mias_dir, 10))
    collection = load_studies([tmp_path])
    assert collection.errors == []
    assert len(collection.studies) == 10  # left + right MLO of 10 patients
    for study in collection.studies:
        assert set(study.images) == {View.L_MLO, View.R_MLO}
        assert study.missing_views == [View.R_CC, View.L_CC]
        for image in study.images.values():
            assert (image.rows, image.cols) == (1024, 1024)
            assert image.spacing is not None and image.spacing.row_mm == 0.2
            assert image.pixels is not None and 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0


@pytest.mark.mias
def test_mias_sides_follow_the_lead_markers_and_the_films_are_mirrored(mias_dir: Path) -> None:
    """Every film of the folder, read by the mini-MIAS profile: odd numbers left, even right (the lead
    markers of mdb004 and mdb020 read "R ML", of mdb007 "L ML"); the chest wall as the image itself
    shows it agrees with the mirroring rule (a right breast's on the image's left) wherever the image
    is clear about it, which is almost every film, and every film is flipped to the model grid by it."""
    from mommi.study.orientation import CONTENT_CONFIDENCE, chest_wall_from_content
    from mommi.study.profiles.mias import LATERALITY_RULE, chest_wall_of

    films = sorted(mias_dir.glob("mdb*.pgm"))
    assert len(films) >= 200
    hand_checked = {"mdb004": Laterality.RIGHT, "mdb007": Laterality.LEFT, "mdb020": Laterality.RIGHT}
    confirmed = 0
    for path in films:
        image = read_image(path)
        assert image.profile == "mini-MIAS" and image.view_source == LATERALITY_RULE
        assert image.to_model is not None and image.pixels is not None
        assert image.to_model.flip_horizontal == (image.laterality is Laterality.LEFT), path.name
        content = chest_wall_from_content(image.pixels)
        if content is not None and content.confidence >= CONTENT_CONFIDENCE:
            assert content.side == chest_wall_of(image.laterality), path.name
            confirmed += 1
        if path.stem in hand_checked:
            assert image.laterality is hand_checked[path.stem], path.name
    assert confirmed >= 0.95 * len(films)


@pytest.mark.mias
def test_mias_folder_inspects_as_one_exam_per_woman(mias_dir: Path) -> None:
    collection = load_studies([mias_dir], keep_pixels=False)
    assert not collection.errors
    assert len(collection.studies) == len(list(mias_dir.glob("mdb*.pgm"))) // 2
    for study in collection.studies:
        assert study.profile == "mini-MIAS" and set(study.images) == {View.L_MLO, View.R_MLO}
        numbers = sorted(int(i.path.stem[3:]) for i in study.images.values())
        assert numbers[0] % 2 == 1 and numbers[1] == numbers[0] + 1
        assert study.images[View.L_MLO].path.stem == f"mdb{numbers[0]:03d}"  # odd: left


@pytest.mark.mias
def test_mias_inspection_names_the_side_rule(mias_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mommi.cli.main import main

    assert main(["study", "inspect", str(mias_dir)]) == 0
    text = capsys.readouterr().out
    studies = len(list(mias_dir.glob("mdb*.pgm"))) // 2
    assert text.count("side and view from: MIAS file number: odd = left, even = right") == studies
