"""ReviewSession: the one way both front ends change review state.

A session opens a study's result for one reader, keeps the reading order and the
selection (user-interface state, not stored), and turns every action into an
event written to the store before the call returns, so that a crash or a killed
process loses nothing the reader did. The state shown is always re-derived from
the store (``mommi.feedback.state``), including what other sessions wrote.

A session reviews the result it opened: registering it makes it the study's
current result version when it differs from the stored one (a re-analysis with
another zoo or operating point), the findings shown are that version's, the
decisions made on earlier versions are carried over where their findings match,
and every event names the version it was made on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mommi.errors import MommiError
from mommi.findings.birads import BIRADS_CATEGORIES
from mommi.feedback.state import BIOPSY, STATUSES, FindingState, StudyState, derive
from mommi.feedback.store import ReviewStore
from mommi.runtime.result import StudyResult


class ReviewError(MommiError, ValueError):
    """An action that cannot be applied (unknown finding, invalid BI-RADS or geometry); nothing was stored."""


def _load_result(result: StudyResult | Path | str) -> tuple[StudyResult, str]:
    if isinstance(result, StudyResult):
        return result, ""
    path = Path(result)
    if path.is_dir():
        path = path / "result.json"
    try:
        return StudyResult.from_dict(json.loads(path.read_text(encoding="utf-8"))), str(path)
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: cannot open the analysis result ({exc})") from exc


def result_key(result: StudyResult) -> str:
    """What makes two analyses of a study the same result: the models that ran (SHA-256 of each file), the
    operating point and the MommiSlicer that ran them. Not the device: the same models on a GPU and on a
    CPU give scores that differ in the last digits, and a team sharing one store must not make a new
    result version of every study each time another workstation opens it."""
    identity = {
        "models": dict(result.models),
        "min_score": result.min_score,
        "operating_point": result.operating_point,
        "mommi_version": result.mommi_version,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


class ReviewSession:
    def __init__(
        self, store: ReviewStore, result: StudyResult | Path | str, reader: str, role: str = "radiologist"
    ) -> None:
        if not reader.strip():
            raise ReviewError("a review needs the reader's name")
        self.store, self.reader, self.role = store, reader.strip(), role
        self.result, result_path = _load_result(result)
        self.study_uid = self.result.study_uid
        self.views = self.result.views
        registered = store.register_study(
            self.study_uid,
            self.result.patient_key,
            result_path,
            [f.to_dict() for f in self.result.findings],
            dict(self.result.models),
            result_key=result_key(self.result),
        )
        #: the study's result version this session shows and stamps on every event, with its models
        self.result_version = registered.version
        self.model_version = registered.model_version
        self._findings = store.findings_by_version(self.study_uid)
        self.state: StudyState = derive(self._findings[self.result_version], [], result_version=self.result_version)
        self.selected_id: str | None = None
        self.refresh()
        ordered = self.findings
        self.selected_id = ordered[0].id if ordered else None

    # ------------------------------------------------------------------ reading
    def refresh(self) -> StudyState:
        """Re-derive the state from the store (another session may have written since, on this result
        version or, from another workstation, on another one)."""
        events = self.store.events(self.study_uid)
        if any(e.result_version not in self._findings for e in events):  # results are never changed: read once
            self._findings = self.store.findings_by_version(self.study_uid)
        self.state = derive(
            self._findings[self.result_version],
            events,
            result_version=self.result_version,
            findings_by_version=self._findings,
        )
        return self.state

    @property
    def findings(self) -> list[FindingState]:
        return self.state.ordered()

    @property
    def status(self) -> str:
        return self.state.status

    @property
    def selected(self) -> FindingState | None:
        return self.state.findings.get(self.selected_id) if self.selected_id else None

    def select(self, finding_id: str) -> FindingState:
        self.selected_id = self._finding(finding_id).id
        return self.state.findings[finding_id]

    def next(self) -> FindingState | None:
        return self._step(+1)

    def previous(self) -> FindingState | None:
        return self._step(-1)

    def _step(self, delta: int) -> FindingState | None:
        ordered = self.findings
        if not ordered:
            return None
        ids = [f.id for f in ordered]
        index = ids.index(self.selected_id) if self.selected_id in ids else -delta
        self.selected_id = ids[(index + delta) % len(ids)]
        return self.selected

    @property
    def can_undo(self) -> bool:
        return bool(self.state.undoable)

    @property
    def can_redo(self) -> bool:
        return bool(self.state.redoable)

    # ------------------------------------------------------------------ actions
    def accept(self, finding_id: str | None = None) -> FindingState:
        return self._on_finding("accept", finding_id)

    def reject(self, finding_id: str | None = None) -> FindingState:
        return self._on_finding("reject", finding_id)

    def edit_geometry(
        self,
        box_px: Sequence[float],
        contour_px: Sequence[Sequence[float]] | None = None,
        finding_id: str | None = None,
    ) -> FindingState:
        finding = self._finding(finding_id)
        after = self._geometry(finding.view, box_px, contour_px)
        before = {"box_px": finding.box_px, "contour_px": finding.contour_px}
        return self._on_finding("edit_geometry", finding.id, before=before, after=after)

    def add_mass(
        self, view: str, box_px: Sequence[float], contour_px: Sequence[Sequence[float]] | None = None
    ) -> FindingState:
        """A mass the model missed; it is selected and counts as accepted."""
        if view not in self.views:
            raise ReviewError(f"view {view!r} is not in this study ({', '.join(self.views)})")
        after = {"view": view, **self._geometry(view, box_px, contour_px)}
        taken = {e.finding_id for e in self.store.events(self.study_uid) if e.action == "add_finding"}
        number = 1 + len(taken)
        while f"{view}-R{number}" in taken:
            number += 1
        finding_id = f"{view}-R{number}"
        self._write("add_finding", finding_id, after=after)
        self.selected_id = finding_id
        return self.state.findings[finding_id]

    def set_birads(self, category: str, finding_id: str | None = None) -> FindingState:
        value = str(category).strip().upper()
        if value not in BIRADS_CATEGORIES:
            raise ReviewError(f"BI-RADS {category!r} is not one of {', '.join(BIRADS_CATEGORIES)}")
        finding = self._finding(finding_id)
        return self._on_finding("set_birads", finding.id, before={"birads": finding.birads}, payload={"birads": value})

    def set_biopsy(self, outcome: str, finding_id: str | None = None) -> FindingState:
        if outcome not in BIOPSY:
            raise ReviewError(f"biopsy result {outcome!r} is not one of {', '.join(BIOPSY)}")
        finding = self._finding(finding_id)
        return self._on_finding(
            "set_biopsy", finding.id, before={"biopsy": finding.biopsy}, payload={"biopsy": outcome}
        )

    def comment(self, text: str, finding_id: str | None = None, study_level: bool = False) -> None:
        """A free comment on a finding (the selected one by default) or, with ``study_level``, on the study."""
        if not text.strip():
            raise ReviewError("an empty comment is not stored")
        target = None if study_level else self._finding(finding_id).id
        self._write("comment", target, payload={"text": text.strip()})

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise ReviewError(f"study status {status!r} is not one of {', '.join(STATUSES)}")
        self._write("set_status", None, before={"status": self.status}, payload={"status": status})

    def undo(self) -> bool:
        """Take back the last action still in force (False when there is none)."""
        self.refresh()
        if not self.state.undoable:
            return False
        self._write("undo", None, payload={"event_id": self.state.undoable[0]})
        return True

    def redo(self) -> bool:
        self.refresh()
        if not self.state.redoable:
            return False
        self._write("redo", None, payload={"event_id": self.state.redoable[0]})
        return True

    # ------------------------------------------------------------------ helpers
    def _finding(self, finding_id: str | None) -> FindingState:
        finding_id = finding_id or self.selected_id
        if finding_id is None or finding_id not in self.state.findings:
            raise ReviewError(f"no finding {finding_id!r} in study {self.study_uid}")
        return self.state.findings[finding_id]

    def _geometry(
        self, view: str, box_px: Sequence[float], contour_px: Sequence[Sequence[float]] | None
    ) -> dict[str, Any]:
        info = self.views[view]
        box = [float(v) for v in box_px]
        if len(box) != 4 or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise ReviewError(f"box {list(box_px)} is not [x0, y0, x1, y1] with x1 > x0 and y1 > y0")
        if box[0] < 0 or box[1] < 0 or box[2] > info.cols or box[3] > info.rows:
            raise ReviewError(f"box {box} leaves the {info.cols} x {info.rows} image of {view}")
        if contour_px is None:
            x0, y0, x1, y1 = box
            contour = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        else:
            contour = [[float(x), float(y)] for x, y in contour_px]
            if len(contour) < 3:
                raise ReviewError("a contour needs at least three points")
        return {"box_px": [round(v, 2) for v in box], "contour_px": [[round(x, 2), round(y, 2)] for x, y in contour]}

    def _on_finding(self, action: str, finding_id: str | None, **fields: Any) -> FindingState:
        finding = self._finding(finding_id)
        self._write(action, finding.id, **fields)
        return self.state.findings[finding.id]

    def _write(
        self,
        action: str,
        finding_id: str | None,
        before: dict | None = None,
        after: dict | None = None,
        payload: dict | None = None,
    ) -> None:
        self.store.append_event(
            self.study_uid,
            self.reader,
            self.role,
            action,
            finding_id=finding_id,
            before=before,
            after=after,
            payload=payload,
            model_version=self.model_version,
            result_version=self.result_version,
        )
        self.refresh()
