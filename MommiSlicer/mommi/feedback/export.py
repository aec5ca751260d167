"""Feedback export batches: what readers decided, with de-identified images, for the training code.

A batch is a folder (or a zip of it) holding

- ``manifest.json``: batch id, filters, counts, model versions, store schema
  version, de-identification notes, and the SHA-256 of every other file;
- ``images/<n>.dcm``: the reviewed views, de-identified by DICOM PS3.15's basic
  profile (``mommi.feedback.deid``; UIDs remapped consistently within the batch;
  images whose burned-in annotation is not known to be absent are listed);
- ``annotations.json``: COCO-style, one annotation per finding with the model's
  original output and the reader's final answer side by side, the result version
  and model version the finding comes from, and each decision in force with the
  result and model version it was made on (a decision carried over from an
  earlier analysis names the finding it was made on and the boxes' IoU);
- ``findings.csv``: the same, flat.

Batch version 2 added the result and model versions (``result_version``,
``model_version``, ``decisions``); version 1 batches lack them and are read the
same way by the training code.

The batch is written to a temporary folder beside the target and moved into place
at the end, so a reader of OUT never sees half a batch. Its content depends only
on the store and the filters (no clock time inside, a deterministic salt from the
site's settings), so the same filters on the same store give the same files; the
batch id is a hash of that content.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from mommi.errors import MommiError
from mommi.feedback.deid import Deidentifier
from mommi.feedback.state import STATUSES, StudyState, state_of
from mommi.feedback.store import ReviewStore, StudyRecord, model_version_label, settings_path

BATCH_SCHEMA = "mommi-feedback-batch"
#: 2: annotations and rows name the result and model versions of the finding and of each decision
BATCH_VERSION = 2
SALT_FILE = "deid-salt"


class ExportError(MommiError, ValueError):
    """A batch that cannot be written (bad filter, unreadable source image, target in the way)."""


@dataclass(frozen=True)
class ExportFilters:
    since: str | None = None  # ISO-8601 UTC; events at or after
    until: str | None = None  # events at or before
    reader: str | None = None
    status: str | None = None  # unread | in progress | done

    def to_dict(self) -> dict[str, str | None]:
        return {"since": self.since, "until": self.until, "reader": self.reader, "status": self.status}


@dataclass
class ExportResult:
    path: Path
    batch_id: str
    counts: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def site_salt(folder: Path | None = None) -> bytes:
    """The site's secret for UID remapping, created once beside the settings file: reproducible batches,
    unguessable UIDs."""
    path = (folder or settings_path().parent) / SALT_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(32).hex().encode())
    return path.read_bytes().strip()


def _selected(store: ReviewStore, filters: ExportFilters) -> list[tuple[StudyRecord, StudyState, list[Any]]]:
    if filters.status is not None and filters.status not in STATUSES:
        raise ExportError(f"status {filters.status!r} is not one of {', '.join(STATUSES)}")
    chosen = []
    for study in store.studies():
        events = store.events(study.study_uid, until=filters.until, reader=filters.reader)
        in_window = [e for e in events if filters.since is None or e.created >= filters.since]
        if not in_window:
            continue  # nothing reviewed in the window (or by that reader)
        state = state_of(store, study.study_uid, events)  # on the study's current result version
        if filters.status is not None and state.status != filters.status:
            continue
        chosen.append((study, state, events))
    return chosen


def _coco_box(box: list[float]) -> list[float]:
    x0, y0, x1, y1 = box
    return [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]


def _flat(contour: list[list[float]]) -> list[list[float]]:
    return [[round(v, 2) for point in contour for v in point]] if contour else []


def _remove_stale_staging(target: Path) -> None:
    """What an export of this name killed before its final rename left beside the target."""
    for path in target.parent.glob(f".{target.name}.*"):
        if path.is_symlink():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith(".zip.part"):
            path.unlink(missing_ok=True)


def export_batch(
    store: ReviewStore,
    out: Path,
    filters: ExportFilters = ExportFilters(),
    as_zip: bool = False,
    salt: bytes | None = None,
    include_comments: bool = False,
) -> ExportResult:
    """Write a de-identified batch. Readers' free-text comments can name the patient, so they are left
    out unless ``include_comments`` (the batch then says so, and the caller should warn).

    Raises:
        ExportError: nothing matches the filters, the target exists, a source image cannot be read, or the
            disk is full (nothing is left at the target).
        ReviewStoreError: the review store cannot be read.
    """
    target = out.with_suffix(".zip") if as_zip else out
    if target.exists():
        raise ExportError(f"{target} already exists; choose a new name (batches are never overwritten)")
    chosen = _selected(store, filters)
    deid = Deidentifier(salt=salt if salt is not None else site_salt())
    target.parent.mkdir(parents=True, exist_ok=True)  # staging beside the target: the final move is a rename
    _remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        counts, warnings, models = _write_content(staging, chosen, deid, include_comments)
        files = {
            p.relative_to(staging).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(staging.rglob("*"))
            if p.is_file()
        }
        batch_id = hashlib.sha256(json.dumps([filters.to_dict(), files], sort_keys=True).encode()).hexdigest()[:16]
        manifest = {
            "schema": BATCH_SCHEMA,
            "version": BATCH_VERSION,
            "batch_id": batch_id,
            "filters": filters.to_dict(),
            "counts": counts,
            "model_versions": models,
            "store_schema_version": store.schema_version(),
            "deidentification": {
                "profile": "DICOM PS3.15 Basic Application Level Confidentiality Profile",
                "uids": "remapped consistently within the batch (salted SHA-256, 2.25 root)",
                "burned_in_annotation_unknown_or_present": counts["burned_in_flagged"],
                "free_text_comments": "included as written by the readers (may identify)"
                if include_comments
                else "left out",
            },
            "files": files,
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        if as_zip:
            zipped = staging.with_suffix(".zip.part")
            with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():  # fixed timestamps: the same batch gives the same zip bytes
                        info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                        archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
            os.replace(zipped, target)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(target, batch_id, counts, warnings)


def _write_content(
    folder: Path,
    chosen: list[tuple[StudyRecord, StudyState, list[Any]]],
    deid: Deidentifier,
    include_comments: bool = False,
) -> tuple[dict[str, Any], list[str], dict[str, str]]:
    images_dir = folder / "images"
    images_dir.mkdir()
    coco: dict[str, Any] = {
        "info": {"description": "MommiSlicer feedback batch", "version": BATCH_VERSION},
        "categories": [{"id": 1, "name": "mass"}],
        "images": [],
        "annotations": [],
    }
    rows: list[dict[str, Any]] = []
    counts: dict[str, Any] = {"studies": 0, "images": 0, "findings": {}, "burned_in_flagged": []}
    warnings: list[str] = []
    models: dict[str, str] = {}
    for study, state, events in chosen:
        try:
            result = json.loads(Path(study.result_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportError(
                f"study {study.study_uid}: its analysis result {study.result_path or '(none recorded)'} "
                f"cannot be read, so its images cannot be found ({exc})"
            ) from exc
        models.update(result.get("models", {}))
        views = result.get("views", {})
        image_ids: dict[str, int] = {}
        for name, view in sorted(views.items()):  # every view: normal ones are negatives for retraining
            image_id = len(coco["images"]) + 1
            file_name = f"images/{image_id:05d}.dcm"
            try:
                ds = pydicom.dcmread(view["path"])
            except (OSError, pydicom.errors.InvalidDicomError) as exc:
                raise ExportError(
                    f"{view['path']}: source image of study {study.study_uid} cannot be read ({exc})"
                ) from exc
            report = deid.deidentify(ds)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            (folder / file_name).write_bytes(buffer.getvalue())
            if report.burned_in:
                counts["burned_in_flagged"].append(file_name)
            coco["images"].append(
                {
                    "id": image_id,
                    "file_name": file_name,
                    "width": view["cols"],
                    "height": view["rows"],
                    "view": name,
                    "spacing_mm": view.get("spacing_mm"),
                    "study": deid.uid_map.get(study.study_uid, ""),
                    "sop_instance_uid": deid.uid_map.get(view["sop_instance_uid"], ""),
                }
            )
            image_ids[name] = image_id
        readers = sorted({e.reader for e in events})
        model_version = model_version_label(study.model_versions)
        for finding in state.ordered():
            if finding.view not in image_ids:
                continue
            original = finding.original
            annotation = {
                "id": len(coco["annotations"]) + 1,
                "image_id": image_ids[finding.view],
                "category_id": 1,
                "bbox": _coco_box(finding.box_px),
                "segmentation": _flat(finding.contour_px),
                "area": round((finding.box_px[2] - finding.box_px[0]) * (finding.box_px[3] - finding.box_px[1]), 2),
                "iscrowd": 0,
                "finding_id": finding.id,
                "origin": finding.origin,
                "decision": finding.decision,
                "edited": finding.edited,
                "result_version": state.result_version,
                "model_version": model_version,
                "decisions": [applied.to_dict() for applied in finding.applied],
                "reader": {
                    "birads": finding.birads,
                    "biopsy": finding.biopsy,
                    "comments": finding.comments if include_comments else [],
                    "readers": readers,
                },
                "model": None
                if finding.origin == "reader"
                else {
                    "bbox": _coco_box(original["box_px"]),
                    "segmentation": _flat(original.get("contour_px", [])),
                    "score": original.get("score"),
                    "malignancy": original.get("malignancy"),
                    "birads": original.get("birads"),
                    "branch": original.get("branch"),
                },
            }
            coco["annotations"].append(annotation)
            kind = (
                "added"
                if finding.origin == "reader"
                else "edited"
                if finding.edited and finding.decision != "rejected"
                else finding.decision
            )
            counts["findings"][kind] = counts["findings"].get(kind, 0) + 1
            rows.append(
                {
                    "file_name": f"images/{image_ids[finding.view]:05d}.dcm",
                    "view": finding.view,
                    "finding_id": finding.id,
                    "origin": finding.origin,
                    "decision": finding.decision,
                    "edited": finding.edited,
                    "box_px": json.dumps(finding.box_px),
                    "model_box_px": json.dumps(original.get("box_px")) if original else "",
                    "score": original.get("score", ""),
                    "malignancy": original.get("malignancy", ""),
                    "model_birads": original.get("birads", "") or "",
                    "reader_birads": finding.birads or "",
                    "biopsy": finding.biopsy or "",
                    "comments": " | ".join(finding.comments) if include_comments else "",
                    "study_status": state.status,
                    "result_version": state.result_version,
                    "model_version": model_version,
                    "decisions": json.dumps(annotation["decisions"], sort_keys=True),
                }
            )
        counts["studies"] += 1
    counts["images"] = len(coco["images"])
    (folder / "annotations.json").write_text(json.dumps(coco, indent=1, sort_keys=True), encoding="utf-8")
    with (folder / "findings.csv").open("w", newline="", encoding="utf-8") as handle:
        columns = [
            "file_name",
            "view",
            "finding_id",
            "origin",
            "decision",
            "edited",
            "box_px",
            "model_box_px",
            "score",
            "malignancy",
            "model_birads",
            "reader_birads",
            "biopsy",
            "comments",
            "study_status",
            "result_version",
            "model_version",
            "decisions",
        ]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return counts, warnings, models


def verify_batch(path: Path) -> dict[str, Any]:
    """The batch's manifest after checking every file's SHA-256 against it (folder or zip)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            unsafe = [n for n in names if n.startswith(("/", "\\")) or ".." in Path(n).parts or ":" in n]
            if unsafe:
                raise ExportError(f"{path}: entries that would land outside the batch: {', '.join(unsafe[:3])}")
            contents = {name: archive.read(name) for name in names if not name.endswith("/")}
    else:
        links = [p for p in path.rglob("*") if p.is_symlink()]
        if links:  # a link could make the batch's "image" any file of the machine
            raise ExportError(f"{path}: {links[0].relative_to(path)} is a symbolic link; a batch holds plain files")
        contents = {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    if "manifest.json" not in contents:
        raise ExportError(f"{path}: no manifest.json; not a feedback batch")
    manifest = json.loads(contents.pop("manifest.json"))
    if manifest.get("schema") != BATCH_SCHEMA:
        raise ExportError(f"{path}: not a {BATCH_SCHEMA} (schema {manifest.get('schema')!r})")
    listed = manifest["files"]
    if set(listed) != set(contents):
        raise ExportError(
            f"{path}: files differ from the manifest (missing {sorted(set(listed) - set(contents))}, "
            f"extra {sorted(set(contents) - set(listed))})"
        )
    for name, digest in listed.items():
        if hashlib.sha256(contents[name]).hexdigest() != digest:
            raise ExportError(f"{path}: {name} does not match its SHA-256 in the manifest")
    return manifest
