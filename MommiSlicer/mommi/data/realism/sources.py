"""Reading both sides of the comparison into ``AnalysedImage`` lists.

Why this way: the comparison must be on what the product sees. Synthetic studies
are read back from their DICOM files with ``load_studies`` (VOI, MONOCHROME1,
16-bit and spacing variants all applied as for a clinical study); real films come
through the MIAS importer and ``load_record_image`` (the facts MIAS keeps in
Info.txt: spacing, side, masses), or, for any other folder, through ``load_studies``
like a clinical archive.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from mommi.data.realism.masses import circle_region, enclosing_diameter_mm
from mommi.data.realism.resample import TARGET_MM, AnalysedImage, analysed_image, resample
from mommi.study import load_studies, read_image
from mommi.study.model import MammoImage

#: progress(done, total, what)
Progress = Callable[[int, int, str], None]


@dataclass
class Side:
    """One side of the comparison: its images at 0.2 mm and how they were found."""

    name: str  # "real", "lite", "clinical"
    kind: str  # "mias", "dicom", "synthetic"
    images: list[AnalysedImage] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<file>: <reason>"
    has_mass_truth: bool = False

    @property
    def patients(self) -> list[str]:
        return sorted({image.patient for image in self.images})

    def counts(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "patients": len(self.patients),
            "images": len(self.images),
            "masses": sum(len(image.masses) for image in self.images),
            "skipped": list(self.skipped),
        }


def _spacing(image: MammoImage) -> tuple[float, float] | None:
    if image.spacing is None or image.spacing.row_mm <= 0 or image.spacing.col_mm <= 0:
        return None
    return float(image.spacing.row_mm), float(image.spacing.col_mm)


def is_mias(folder: Path) -> bool:
    """A mini-MIAS folder as distributed: Info.txt beside mdbNNN.pgm files."""
    return (folder / "Info.txt").is_file() and any(folder.glob("mdb*.pgm"))


def read_mias(folder: Path, target_mm: float = TARGET_MM, progress: Progress | None = None) -> Side:
    """Every MIAS film with its located masses (circle of Info.txt's radius)."""
    from mommi.data.importers.mias import import_mias
    from mommi.data.records import load_record_image

    manifest = import_mias(folder)
    side = Side("real", "mias", has_mass_truth=True)
    for done, record in enumerate(manifest.records, start=1):
        image = load_record_image(manifest, record)
        spacing = _spacing(image)
        if spacing is None and record.spacing_mm:
            spacing = float(record.spacing_mm[0]), float(record.spacing_mm[1])
        if image.pixels is None or spacing is None:
            side.skipped.append(f"{record.image_path}: no pixel spacing")
            continue
        analysed = analysed_image(record.patient_id, record.image_id, image.pixels, spacing, target_mm)
        scale = spacing[1] / target_mm
        for finding in record.findings:
            if finding.kind != "mass" or finding.center is None or "radius" not in finding.extra:
                continue
            radius_px = float(finding.extra["radius"]) * scale
            center = (finding.center[0] * scale, finding.center[1] * scale)
            analysed.masses.append(circle_region(analysed.pixels.shape, center, radius_px))
            analysed.mass_diameters_mm.append(2.0 * float(finding.extra["radius"]) * spacing[1])
        side.images.append(analysed)
        if progress is not None:
            progress(done, len(manifest.records), record.image_id)
    return side


def read_dicom_folder(folder: Path, target_mm: float = TARGET_MM, progress: Progress | None = None) -> Side:
    """Any folder ``load_studies`` reads: headers first, then one image at a time (bounded memory)."""
    collection = load_studies([folder], keep_pixels=False)
    side = Side("real", "dicom")
    side.skipped.extend(str(error) for error in collection.errors)
    headers = [(study.patient_key, image) for study in collection.studies for image in study.images.values()]
    for done, (patient, header) in enumerate(headers, start=1):
        image = read_image(header.path)
        spacing = _spacing(image)
        if image.pixels is None or spacing is None:
            side.skipped.append(f"{header.path}: no pixel spacing")
            continue
        side.images.append(
            analysed_image(patient, f"{header.path.name} {header.label}", image.pixels, spacing, target_mm)
        )
        if progress is not None:
            progress(done, len(headers), header.path.name)
    return side


def read_real(folder: Path, target_mm: float = TARGET_MM, progress: Progress | None = None) -> Side:
    """MIAS when ``Info.txt`` says so, else a folder of studies."""
    return read_mias(folder, target_mm, progress) if is_mias(folder) else read_dicom_folder(folder, target_mm, progress)


def _view_truth(truth: dict[str, Any], file_name: str) -> dict[str, Any] | None:
    for entry in truth.get("views", {}).values():
        if entry.get("file") == file_name:
            return entry
    return None


def read_synthetic(
    name: str, folders: list[Path], target_mm: float = TARGET_MM, progress: Progress | None = None
) -> Side:
    """``mommi synth`` studies read back with ``load_studies``, masses from truth.json and masks/."""
    side = Side(name, "synthetic", has_mass_truth=True)
    for done, folder in enumerate(folders, start=1):
        collection = load_studies([folder])  # the product's reader, pixels included
        side.skipped.extend(str(error) for error in collection.errors)
        truth_file = folder / "truth.json"
        truth = json.loads(truth_file.read_text(encoding="utf-8")) if truth_file.is_file() else {}
        for study in collection.studies:
            for view in sorted(study.images, key=lambda v: v.value):
                image = study.images[view]
                spacing = _spacing(image)
                if image.pixels is None or spacing is None:
                    side.skipped.append(f"{image.path}: no pixel spacing")
                    continue
                analysed = analysed_image(
                    study.patient_key, f"{folder.name}/{view.value}", image.pixels, spacing, target_mm
                )
                entry = _view_truth(truth, image.path.name)
                if entry and entry.get("mask_file"):
                    labels = cv2.imread(str(folder / entry["mask_file"]), cv2.IMREAD_UNCHANGED)
                    if labels is not None and labels.shape[:2] == image.pixels.shape[:2]:
                        labels = resample(labels, spacing, target_mm, nearest=True)
                        for mass in entry.get("masses", []):
                            region = labels == int(mass["id"])
                            if region.any():
                                analysed.masses.append(region)
                                analysed.mass_diameters_mm.append(enclosing_diameter_mm(region, target_mm))
                side.images.append(analysed)
        if progress is not None:
            progress(done, len(folders), folder.name)
    return side
