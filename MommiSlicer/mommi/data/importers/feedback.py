"""Feedback export batches (`mommi feedback export`) -> a training manifest.

What readers decided becomes training data:
- accepted, edited and reader-added findings are masses with the reader's final
  geometry (pathology from the biopsy result where one was given, BI-RADS from
  the reader where set);
- rejected findings are hard negatives: kind ``rejected`` with the model's box.
  The detection networks see them as background (like any unmarked tissue); the
  malignancy classifier gets them as not-malignant patches (``mommi.data.patches``);
- findings nobody decided on (pending) are kept as kind ``pending`` and used by
  neither, since silence is not an answer.

Every record is in the ``train`` split: a batch fine-tunes a model whose
validation data stay those of its original manifests. A zip batch is unpacked
once next to the zip after its manifest has been verified.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

from mommi.errors import DatasetImportError
from mommi.data.manifest import Finding, Manifest, Record

SOURCE = "feedback"
BATCH_ID = re.compile(r"[0-9a-f]{16}")


def _verified(path: Path) -> dict:
    from mommi.feedback.export import ExportError, verify_batch

    try:
        return verify_batch(path)
    except (ExportError, OSError, ValueError, KeyError) as exc:
        raise DatasetImportError(path, f"not a valid feedback batch ({exc})") from exc


def _batch_folder(path: Path) -> tuple[Path, dict]:
    """The batch as a verified folder, and its manifest. A zip is unpacked next to it; the unpacked copy is
    verified again on every use (an edited copy is replaced by a fresh one from the verified zip)."""
    manifest = _verified(path)
    if path.is_dir():
        return path, manifest
    folder = path.with_name(path.name + ".unpacked")
    try:
        if _verified(folder)["batch_id"] == manifest["batch_id"]:
            return folder, manifest
    except DatasetImportError:
        pass
    shutil.rmtree(folder, ignore_errors=True)
    with zipfile.ZipFile(path) as archive:  # entry names were checked by verify_batch
        archive.extractall(folder)
    return folder, _verified(folder)


def _box(coco: list[float]) -> list[float]:
    x, y, w, h = coco
    return [x, y, x + w, y + h]


def import_feedback(source: Path) -> Manifest:
    """A verified feedback batch (folder or zip) as a training manifest.

    Raises:
        DatasetImportError: the batch does not exist, fails its hashes, reaches outside itself or lacks its layout.
    """
    if not Path(source).exists():
        raise DatasetImportError(source, "this feedback batch does not exist (a folder or .zip was expected)")
    folder, manifest_data = _batch_folder(Path(source))
    folder = folder.resolve()
    try:
        coco = json.loads((folder / "annotations.json").read_text(encoding="utf-8"))
        return _manifest_of(source, folder, manifest_data, coco)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        # the hashes prove the files are the batch's, not that whoever signed them wrote the export's layout
        raise DatasetImportError(
            source, f"annotations.json does not have a feedback batch's layout ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None


def _manifest_of(source: Path, folder: Path, manifest_data: dict, coco: dict) -> Manifest:
    batch = str(manifest_data.get("batch_id", ""))
    if not BATCH_ID.fullmatch(batch):  # it names files (feedback-<batch_id>.json): no path may hide in it
        raise DatasetImportError(source, f"batch_id {batch[:40]!r} is not a batch id (16 hexadecimal digits)")
    for image in coco["images"]:  # only the batch's own verified files, never a path leading elsewhere
        if image.get("file_name") not in manifest_data["files"]:
            raise DatasetImportError(source, f"image {str(image.get('file_name'))[:80]!r} is not a file of the batch")
    by_image: dict[int, list[dict]] = {}
    for annotation in coco["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    manifest = Manifest(source=SOURCE, root=str(folder))
    for image in coco["images"]:
        laterality, projection = image["view"].split("-")
        findings = []
        for a in by_image.get(image["id"], []):
            reader = a.get("reader") or {}
            extra = {"feedback": a["decision"], "finding_id": a["finding_id"], "origin": a["origin"]}
            if a["decision"] == "rejected":
                findings.append(
                    Finding(kind="rejected", box=_box((a.get("model") or {}).get("bbox") or a["bbox"]), extra=extra)
                )
            elif a["decision"] == "accepted":
                biopsy = reader.get("biopsy")
                findings.append(
                    Finding(
                        kind="mass",
                        box=_box(a["bbox"]),
                        pathology=biopsy if biopsy in ("benign", "malignant") else None,
                        birads=reader.get("birads"),
                        extra=extra,
                    )
                )
            else:
                findings.append(Finding(kind="pending", box=_box(a["bbox"]), extra=extra))
        spacing = image.get("spacing_mm")
        manifest.records.append(
            Record(
                patient_id=image["study"],
                study_id=image["study"],
                image_id=f"feedback-{batch}/{image['file_name']}",
                view=projection,
                laterality=laterality,
                image_path=image["file_name"],
                source=SOURCE,
                spacing_mm=list(spacing) if spacing else None,
                width=image["width"],
                height=image["height"],
                findings=findings,
                split="train",
                extra={"batch_id": batch},
            )
        )
    return manifest
