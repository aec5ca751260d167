"""Importer for studies written by `mommi synth` (their truth.json files)."""

from __future__ import annotations

import json
from pathlib import Path

from mommi.data.manifest import Finding, Manifest, Record
from mommi.data.synth import TRUTH_SCHEMA
from mommi.errors import DatasetImportError


def import_synthetic(source: Path) -> Manifest:
    """One record per view of every study under ``source`` (normal views included)."""
    root = Path(source).resolve()
    truths = sorted(root.rglob("truth.json"))
    if not truths:
        raise DatasetImportError(root, "no truth.json found: is this a folder written by `mommi synth`?")
    manifest = Manifest(source="synthetic", root=str(root))
    for truth_path in truths:
        try:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DatasetImportError(truth_path, f"cannot read the ground truth ({exc})") from exc
        if truth.get("schema") != TRUTH_SCHEMA:
            raise DatasetImportError(
                truth_path, f"not a mommi synth ground-truth file (schema {truth.get('schema')!r})"
            )
        folder = truth_path.parent.relative_to(root)
        for key, view in sorted(truth["views"].items()):
            laterality, projection = key.split("-")
            mask_path = str(folder / view["mask_file"]) if view.get("mask_file") else None
            findings = [
                Finding(
                    kind="mass",
                    box=[float(v) for v in m["box"]],
                    pathology=m["pathology"],
                    birads=m["birads"],
                    mask_path=mask_path,
                    center=m["center"],
                    extra={"mask_label": m["id"], "shape": m.get("kind")},
                )
                for m in view["masses"]
            ]
            manifest.records.append(
                Record(
                    patient_id=truth["patient_id"],
                    study_id=truth["study_uid"],
                    image_id=f"{truth['patient_id']}/{key}",
                    view=projection,
                    laterality=laterality,
                    image_path=str(folder / view["file"]),
                    source="synthetic",
                    spacing_mm=[truth["pixel_mm"]] * 2,
                    width=view["cols"],
                    height=view["rows"],
                    findings=findings,
                    nipple=view["nipple"],
                    extra={"density": truth["density"], "lookalikes": view["lookalikes"]},
                )
            )
    return manifest
