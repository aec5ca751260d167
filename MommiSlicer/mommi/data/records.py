"""Manifest records as images and targets on a model grid (no torch: shared by training,
prediction and evaluation)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mommi.data.manifest import Manifest, Record
from mommi.study.geometry import GridTransform
from mommi.study.loader import read_image
from mommi.study.model import Laterality, MammoImage
from mommi.study.raster import RASTER_SUFFIXES, Sidecar, read_raster


def load_record_image(manifest: Manifest, record: Record) -> MammoImage:
    """The image of a record; PNG/PGM files take their facts from the record (no sidecar needed)."""
    path = manifest.image_file(record)
    if path.suffix.lower() in RASTER_SUFFIXES:
        spacing = (float(record.spacing_mm[0]), float(record.spacing_mm[-1])) if record.spacing_mm else None
        chest_wall = record.extra.get("chest_wall")  # a dataset convention (mirrored MIAS films)
        sidecar = Sidecar(
            Laterality(record.laterality),
            record.view,
            spacing,
            record.patient_id,
            record.study_id,
            "",
            chest_wall if chest_wall in ("left", "right") else None,
            None,
            "MONOCHROME2",
            "",
        )
        return read_raster(path, sidecar=sidecar)
    return read_image(path)


def _finding_mask(manifest: Manifest, finding, shape: tuple[int, int]) -> np.ndarray:  # noqa: ANN001
    """A finding's mask in original pixels: its label map if it has one, else the box's ellipse."""
    if finding.mask_path and "mask_label" in finding.extra:
        labels = cv2.imread(str(Path(manifest.root) / finding.mask_path), cv2.IMREAD_UNCHANGED)
        if labels is not None and labels.shape[:2] == shape:
            return labels == finding.extra["mask_label"]
    mask = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = finding.box
    center = (int(round((x0 + x1) / 2)), int(round((y0 + y1) / 2)))
    axes = (max(int(round((x1 - x0) / 2)), 1), max(int(round((y1 - y0) / 2)), 1))
    cv2.ellipse(mask, center, axes, 0, 0, 360, 1, -1)
    return mask.astype(bool)


def target_mask(manifest: Manifest, record: Record, image: MammoImage, transform: GridTransform) -> np.ndarray:
    """Union of the record's mass masks on the model grid (float32 0/1)."""
    shape = (image.rows, image.cols)
    original = np.zeros(shape, bool)
    for finding in record.findings:
        if finding.kind == "mass":
            original |= _finding_mask(manifest, finding, shape)
    return (transform.apply(original.astype(np.float32)) > 0.5).astype(np.float32)


def rejected_on_grid(record: Record, transform: GridTransform, shape: tuple[int, int]) -> np.ndarray | None:
    """The boxes of findings a reader rejected (feedback batches), on the model grid; None when there are none.

    Boxes, not masks: a rejected finding has only the model's box, and the whole box is what the reader saw.
    """
    boxes = [transform.box_to_model(f.box) for f in record.findings if f.kind == "rejected"]
    if not boxes:
        return None
    grid = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        r0, r1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), shape[0])
        c0, c1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), shape[1])
        grid[r0:r1, c0:c1] = True
    return grid


def nipple_on_grid(record: Record, transform: GridTransform) -> tuple[float, float] | None:
    if record.nipple is None:
        return None
    x, y = transform.to_model(np.array([record.nipple]))[0]
    return float(x), float(y)


def mass_boxes_on_grid(record: Record, transform: GridTransform) -> np.ndarray:
    """(K, 4) mass boxes (x0, y0, x1, y1) on the model grid; K = 0 for a normal image."""
    boxes = [transform.box_to_model(f.box) for f in record.findings if f.kind == "mass"]
    return np.array(boxes, dtype=np.float32).reshape(-1, 4)


def ipsilateral_index(records: list[Record]) -> dict[int, int]:
    """For each CC or MLO record, the index of the other of the two views of the same breast."""
    key = {(r.study_id, r.view, r.laterality): i for i, r in enumerate(records)}
    pairs = {}
    for i, r in enumerate(records):
        other_view = {"CC": "MLO", "MLO": "CC"}.get(r.view)
        other = key.get((r.study_id, other_view, r.laterality)) if other_view else None
        if other is not None:
            pairs[i] = other
    return pairs


def contralateral_index(records: list[Record]) -> dict[int, int]:
    """For each record, the index of the same view of the other breast in the same study."""
    key = {(r.study_id, r.view, r.laterality): i for i, r in enumerate(records)}
    pairs = {}
    for i, r in enumerate(records):
        other = key.get((r.study_id, r.view, "R" if r.laterality == "L" else "L"))
        if other is not None:
            pairs[i] = other
    return pairs
