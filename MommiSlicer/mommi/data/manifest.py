"""The training manifest: one schema for every dataset the training code reads.

A manifest is a JSON file::

    {"schema_version": 1, "source": "mias", "created": "2026-11-25T19:40:00Z",
     "root": "/data/mias", "split_seed": 0,
     "records": [
       {"patient_id": "mias-001", "study_id": "mias-001", "image_id": "mdb001",
        "view": "MLO", "laterality": "R", "image_path": "mdb001.pgm",
        "spacing_mm": [0.2, 0.2], "width": 1024, "height": 1024,
        "findings": [{"kind": "mass", "box": [338, 402, 732, 796], "mask_path": null,
                      "pathology": "benign", "birads": null, "center": [535, 599]}],
        "nipple": null, "image_birads": null, "source": "mias", "split": "train",
        "extra": {"background_tissue": "G"}}]}

- ``image_path`` and ``mask_path`` are relative to ``root`` (or absolute).
- Coordinates are ORIGINAL pixel coordinates of the image file, (x, y) with the
  origin at the top-left pixel centre; ``box`` is [x0, y0, x1, y1], the extreme
  pixel centres of the region (inclusive), as a mask's nonzero indices give them.
- ``view`` is "CC", "MLO" or the dataset's own name for other views ("ML", ...).
- ``pathology`` is "benign", "malignant" or null when the dataset does not say
  (biopsy-proven only); ``birads`` is one of 1, 2, 3, 4A, 4B, 4C, 5, 6 or null.
- ``split`` is "train", "val" or "test" (patient-level; see ``mommi.data.split``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mommi.errors import MommiError
from mommi.findings.birads import BIRADS_CATEGORIES

SCHEMA_VERSION = 1
PATHOLOGIES = ("benign", "malignant")
SPLITS = ("train", "val", "test")


class ManifestError(MommiError, ValueError):
    """A manifest that does not follow the schema; the message names the record."""


def normalise_birads(value: object) -> str | None:
    """'BI-RADS 4', '4a', 4, ' 5 ' -> '4', '4A', ... ; unknown or 0 -> None.

    A plain '4' (datasets without sub-categories, such as VinDr-Mammo and
    CBIS-DDSM) is kept as '4', since 4A, 4B and 4C cannot be told apart there;
    the training code decides how to use it.
    """
    if value is None:
        return None
    text = str(value).strip().upper().replace("BI-RADS", "").replace("BIRADS", "").strip()
    if text in BIRADS_CATEGORIES or text == "4":
        return text
    return None


@dataclass
class Finding:
    kind: str
    box: list[float]
    pathology: str | None = None
    birads: str | None = None
    mask_path: str | None = None
    center: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    patient_id: str
    study_id: str
    image_id: str
    view: str
    laterality: str
    image_path: str
    source: str
    spacing_mm: list[float] | None = None
    width: int | None = None
    height: int | None = None
    findings: list[Finding] = field(default_factory=list)
    nipple: list[float] | None = None
    image_birads: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    source: str
    root: str
    records: list[Record] = field(default_factory=list)
    split_seed: int | None = None
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> Path:
        validate(self)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a manifest
        return path

    def image_file(self, record: Record) -> Path:
        path = Path(record.image_path)
        return path if path.is_absolute() else Path(self.root) / path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ManifestError(f"manifest schema {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
        records = []
        for raw in data["records"]:
            findings = [Finding(**f) for f in raw.get("findings", [])]
            records.append(Record(**{**raw, "findings": findings}))
        manifest = cls(
            source=data["source"],
            root=data["root"],
            records=records,
            split_seed=data.get("split_seed"),
            created=data.get("created", ""),
            schema_version=data["schema_version"],
        )
        validate(manifest)
        return manifest

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{path}: cannot read the manifest ({exc})") from exc
        return cls.from_dict(data)


def validate(manifest: Manifest) -> None:
    """Raise ManifestError naming the first record that breaks the schema."""
    seen: set[str] = set()
    for index, record in enumerate(manifest.records):
        where = f"record {index} ({record.image_id})"
        if record.image_id in seen:
            raise ManifestError(f"{where}: image_id appears twice")
        seen.add(record.image_id)
        if record.laterality not in ("L", "R"):
            raise ManifestError(f"{where}: laterality {record.laterality!r} is not L or R")
        if not record.view:
            raise ManifestError(f"{where}: view is empty")
        if record.split is not None and record.split not in SPLITS:
            raise ManifestError(f"{where}: split {record.split!r} is not one of {SPLITS}")
        if record.image_birads is not None and normalise_birads(record.image_birads) != record.image_birads:
            raise ManifestError(f"{where}: image_birads {record.image_birads!r} is not a BI-RADS category")
        for finding in record.findings:
            x0, y0, x1, y1 = finding.box
            if not (x0 <= x1 and y0 <= y1):
                raise ManifestError(f"{where}: box {finding.box} is not [x0, y0, x1, y1]")
            if finding.pathology is not None and finding.pathology not in PATHOLOGIES:
                raise ManifestError(f"{where}: pathology {finding.pathology!r} is not benign/malignant")
            if finding.birads is not None and normalise_birads(finding.birads) != finding.birads:
                raise ManifestError(f"{where}: birads {finding.birads!r} is not a BI-RADS category")
