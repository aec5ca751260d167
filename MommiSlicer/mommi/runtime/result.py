"""What `mommi analyze` produces for one study: findings, views, maps, warnings, timings, provenance.

Everything is in ORIGINAL pixel coordinates of the source files (and in mm where
the file gives a pixel spacing), so overlays, DICOM objects and reviewers'
corrections line up with the images. ``StudyResult.to_dict`` is ``result.json``
(schema ``mommi-study-result``, versioned: readers check ``version``); the
probability maps and breast masks travel separately (``maps.npz``) because they
are image-sized arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from mommi.errors import MommiError

RESULT_SCHEMA = "mommi-study-result"
RESULT_VERSION = 1


class ResultFormatError(MommiError, ValueError):
    """A result.json that is not this schema or of a version this code cannot read."""


@dataclass
class Evidence:
    """Peak probability each branch gave inside the finding's box (None: that branch did not run)."""

    single: float | None = None
    bilateral: float | None = None
    ipsilateral: float | None = None
    fused: float | None = None


@dataclass
class FindingResult:
    id: str  # "<view>-<n>", n by descending score within the view, e.g. "L-CC-1"
    view: str
    box_px: list[float]  # x0, y0, x1, y1 in original pixels
    contour_px: list[list[float]]  # closed polygon (x, y) in original pixels
    score: float  # detection score of the branch that made the finding
    branch: str  # tri-view | bilateral | ipsilateral | single-view
    box_mm: list[float] | None = None  # same box in mm from the image's top-left corner
    contour_mm: list[list[float]] | None = None
    malignancy: float | None = None  # calibrated probability of malignancy (None: not scored, or withheld)
    malignancy_logit: float | None = None  # the classifier's raw output, kept for research even when withheld
    malignancy_calibrated: bool = False
    birads: str | None = None  # nearest category of METHOD.md's table (None: not scored, or withheld)
    birads_value: float | None = None  # normalised value in [0, 1], kept for research even when withheld
    #: why malignancy and BI-RADS are not shown although the classifier ran (it does not separate real masses)
    malignancy_withheld: str | None = None
    evidence: Evidence = field(default_factory=Evidence)
    ipsilateral_partner: str | None = None  # id of the same mass in the other view of this breast

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FindingResult:
        values = dict(data)
        values["evidence"] = Evidence(**values.get("evidence", {}))
        return cls(**values)


@dataclass
class ViewResult:
    view: str
    path: str
    sop_instance_uid: str
    rows: int
    cols: int
    spacing_mm: list[float] | None  # (row, column) spacing; None for files without one
    branch: str
    nipple_px: list[float] | None = None  # (x, y) in original pixels
    #: "detector" (the keypoint network's confident peak on the front skin line) or "skin apex" (the skin
    #: line's point farthest from the chest wall, where the network was not confident); None in older results
    nipple_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StudyResult:
    study_uid: str
    patient_key: str
    views: dict[str, ViewResult]
    findings: list[FindingResult]
    warnings: list[str]
    timings_s: dict[str, float]
    models: dict[str, str]  # zoo model name -> SHA-256 of the file that ran
    zoo_version: str
    provider: str  # the execution provider the sessions really got
    device_requested: str
    min_score: float
    created: str  # ISO 8601, UTC
    mommi_version: str
    providers: dict[str, str] = field(default_factory=dict)  # zoo model name -> provider its session got
    #: where min_score comes from and, for the zoo's operating point, the data it was set on and what it measured
    operating_point: dict[str, Any] = field(default_factory=dict)
    maps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # final probability map per view
    masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # breast mask per view

    def findings_of(self, view: str) -> list[FindingResult]:
        return [f for f in self.findings if f.view == view]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": RESULT_SCHEMA,
            "version": RESULT_VERSION,
            "study_uid": self.study_uid,
            "patient_key": self.patient_key,
            "created": self.created,
            "mommi_version": self.mommi_version,
            "views": {k: v.to_dict() for k, v in self.views.items()},
            "findings": [f.to_dict() for f in self.findings],
            "warnings": list(self.warnings),
            "timings_s": dict(self.timings_s),
            "models": dict(self.models),
            "zoo_version": self.zoo_version,
            "provider": self.provider,
            "providers": dict(self.providers),
            "device_requested": self.device_requested,
            "min_score": self.min_score,
            "operating_point": dict(self.operating_point),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyResult:
        if data.get("schema") != RESULT_SCHEMA:
            raise ResultFormatError(f"not a {RESULT_SCHEMA} document (schema {data.get('schema')!r})")
        if data.get("version") != RESULT_VERSION:
            raise ResultFormatError(
                f"{RESULT_SCHEMA} version {data.get('version')!r} is not supported "
                f"(this MommiSlicer reads version {RESULT_VERSION})"
            )
        try:
            return cls(
                study_uid=data["study_uid"],
                patient_key=data["patient_key"],
                views={k: ViewResult(**v) for k, v in data["views"].items()},
                findings=[FindingResult.from_dict(f) for f in data["findings"]],
                warnings=list(data["warnings"]),
                timings_s=dict(data["timings_s"]),
                models=dict(data["models"]),
                zoo_version=data["zoo_version"],
                provider=data["provider"],
                providers=dict(data.get("providers", {})),
                device_requested=data["device_requested"],
                min_score=float(data["min_score"]),
                operating_point=dict(data.get("operating_point") or {}),
                created=data["created"],
                mommi_version=data["mommi_version"],
            )
        except (KeyError, TypeError) as exc:
            raise ResultFormatError(f"{RESULT_SCHEMA} document is incomplete or malformed: {exc}") from exc
