"""`mommi synth`: write N synthetic four-view studies as DICOM with ground truth.

Layout of the output folder::

    OUT/synth.json                       parameters, seed, counts (provenance)
    OUT/<patient>/R_CC.dcm ... L_MLO.dcm four views, MG FOR PRESENTATION
    OUT/<patient>/truth.json             ground truth (schema below)
    OUT/<patient>/masks/L_CC.png         mass label map per view with masses (0 = none, k = mass id)

truth.json: ``{"schema": "mommi-synth-truth", "version": 1, "patient_id", "study_uid",
"size", "pixel_mm", "density", "header_variant", "views": {"L-CC": {"file", "rows", "cols",
"nipple": [x, y], "geometry": {"angle_deg", "nipple_row", "mirrored"}, "mask_file",
"masses": [{"id", "box": [x0, y0, x1, y1], "center": [x, y], "area_px", "pathology", "birads",
"kind"}], "lookalikes": [[x, y], ...], "lookalike_kinds": [...]}}, "style": {...} (phantom v3 only),
"masses_3d": [{"id", "laterality", "center_mm",
"radii_mm", "diameter_mm", "kind", "pathology", "birads", "spicules"}]}``.
All coordinates are pixels of the written file (origin top-left pixel centre;
boxes are inclusive extreme pixel centres). Right breasts are stored mirrored,
chest wall on the right, as in a standard display.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mommi.data.phantom.config import DEFAULT_PHANTOM, PHANTOMS, SIZES, PhantomConfig
from mommi.data.phantom.dicom_out import VARIANTS, deterministic_uid, view_dataset
from mommi.data.phantom.render import ViewRender
from mommi.data.phantom.study import VIEWS, SyntheticStudy, make_study

TRUTH_SCHEMA = "mommi-synth-truth"
TRUTH_VERSION = 1


def _mirror_x(x: float, cols: int) -> float:
    return float(cols - 1 - x)


def _view_truth(
    render: ViewRender, laterality: str, study: SyntheticStudy, file: str
) -> tuple[dict[str, Any], np.ndarray | None]:
    rows, cols = render.image.shape
    mirror = laterality == "R"
    fix = (lambda x: _mirror_x(x, cols)) if mirror else (lambda x: float(x))
    labels = np.zeros((rows, cols), np.uint8)
    masses = []
    by_id = {m.ident: m for m in study.masses}
    for ident, mask in sorted(render.mass_masks.items()):
        if mirror:
            mask = mask[:, ::-1]
        ys, xs = np.nonzero(mask)
        if xs.size == 0:
            continue
        labels[mask] = ident
        mass = by_id[ident]
        masses.append(
            {
                "id": ident,
                "box": [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
                "center": [round(float(xs.mean()), 2), round(float(ys.mean()), 2)],
                "area_px": int(xs.size),
                "pathology": mass.pathology,
                "birads": mass.birads,
                "kind": mass.kind,
            }
        )
    truth = {
        "file": file,
        "rows": rows,
        "cols": cols,
        "nipple": [round(fix(render.nipple[0]), 2), round(render.nipple[1], 2)],
        # how breast coordinates (mm) map to this image: col = x / pixel_mm,
        # row = nipple_row - (y cos(angle) + z sin(angle)) / pixel_mm, mirrored if "mirrored"
        "geometry": {"angle_deg": round(render.angle_deg, 4), "nipple_row": render.nipple_row, "mirrored": mirror},
        "mask_file": None,
        "masses": masses,
        "lookalikes": [[round(fix(x), 2), round(y, 2)] for x, y in render.lookalike_centers],
        # what each look-alike is: "lookalike" (summation of tissue in one view), "cyst", "asymmetry"
        "lookalike_kinds": [blob.kind for blob in study.breasts[laterality].lookalikes],
    }
    return truth, (labels if masses else None)


def write_study(
    study: SyntheticStudy,
    folder: Path,
    patient_id: str,
    seed: int,
    index: int,
    pixel_mm: float,
    size_name: str,
    variant: str,
) -> dict[str, Any]:
    """Write the four DICOM files, the masks and truth.json of one study."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = deterministic_uid(seed, index, "study")
    study_date = f"2026{1 + index % 12:02d}{1 + index % 28:02d}"
    truth: dict[str, Any] = {
        "schema": TRUTH_SCHEMA,
        "version": TRUTH_VERSION,
        "patient_id": patient_id,
        "study_uid": str(study_uid),
        "seed": seed,
        "index": index,
        "size": size_name,
        "pixel_mm": pixel_mm,
        "density": round(study.density, 4),
        "normal": study.normal,
        "header_variant": variant,
        "views": {},
        "masses_3d": study.masses_3d(),
    }
    if study.style is not None:  # structured phantom: the acquisition style all four views share
        truth["style"] = {
            key: (value.value if key == "style" else round(value, 4)) for key, value in asdict(study.style).items()
        }
    for instance, (lat, proj) in enumerate(VIEWS, start=1):
        key = f"{lat}-{proj}"
        render = study.views[key]
        image = render.image[:, ::-1] if lat == "R" else render.image
        file = f"{lat}_{proj}.dcm"
        ds = view_dataset(image, lat, proj, pixel_mm, patient_id, study_uid, study_date, instance, variant)
        ds.save_as(folder / file, enforce_file_format=True)
        view_truth, labels = _view_truth(render, lat, study, file)
        if labels is not None:
            (folder / "masks").mkdir(exist_ok=True)
            view_truth["mask_file"] = f"masks/{lat}_{proj}.png"
            cv2.imwrite(str(folder / view_truth["mask_file"]), labels)
        truth["views"][key] = view_truth
    (folder / "truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return truth


def synthesize(
    out: Path,
    studies: int,
    seed: int = 0,
    size: str = "lite",
    normal_fraction: float = 0.3,
    variant: str = "standard",
    config: PhantomConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    phantom: str = DEFAULT_PHANTOM,
) -> list[Path]:
    """Write ``studies`` synthetic patients under ``out``; returns their folders.

    Which patients are normal is a seeded choice of round(N * normal_fraction).
    ``variant`` is one of the header variants, or ``mixed`` to cycle through them.
    ``phantom`` names a version of ``PHANTOMS`` (an explicit ``config`` overrides it).
    """
    if config is None and phantom not in PHANTOMS:
        raise ValueError(f"unknown phantom {phantom!r}; choose from {', '.join(PHANTOMS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    if variant != "mixed" and variant not in VARIANTS:
        raise ValueError(f"unknown header variant {variant!r}; choose from mixed, {', '.join(VARIANTS)}")
    if not 0.0 <= normal_fraction <= 1.0:
        raise ValueError("normal_fraction must be between 0 and 1")
    config = config or PHANTOMS[phantom]
    image_size = config.image_size(SIZES[size])
    normal = set(np.random.default_rng([seed, 10**6]).permutation(studies)[: round(studies * normal_fraction)])
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for index in range(studies):
        rng = np.random.default_rng([seed, index])
        study = make_study(rng, config, SIZES[size], normal=index in normal)
        patient_id = f"synth-{seed}-{index:05d}"
        chosen = VARIANTS[index % len(VARIANTS)] if variant == "mixed" else variant
        write_study(study, out / patient_id, patient_id, seed, index, image_size.pixel_mm, size, chosen)
        folders.append(out / patient_id)
        if progress is not None:
            progress(index + 1, studies)
    provenance = {
        "generator": "mommi synth",
        "seed": seed,
        "studies": studies,
        "size": asdict(image_size),
        "normal_fraction": normal_fraction,
        "normal_studies": len(normal),
        "header_variant": variant,
        "phantom": phantom if config is PHANTOMS.get(phantom) else "custom",
        "config": asdict(config),
    }
    (out / "synth.json").write_text(json.dumps(provenance, indent=1), encoding="utf-8")
    return folders
