"""The current review state of a study, derived from its append-only events.

Nothing is ever overwritten in the store: the state a reader sees is a replay of
the model's findings and every event since, so the audit trail and the state can
never disagree. Undo and redo are events too: ``undo`` names the event it takes
back, ``redo`` the undo it takes back; the replay keeps the usual editor rule
(a new action after an undo clears what could be redone).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: actions that change a finding or the study and can be undone
UNDOABLE = ("accept", "reject", "edit_geometry", "add_finding", "set_birads", "set_biopsy", "comment", "set_status")
ACTIONS = (*UNDOABLE, "undo", "redo")
DECISIONS = ("pending", "accepted", "rejected")
BIOPSY = ("benign", "malignant", "unknown")


class StudyStatus(str, Enum):
    """A study's review status. A str enum: the store, JSON exports and the CLI hold and compare the plain
    values, code names the members."""

    UNREAD = "unread"
    IN_PROGRESS = "in progress"
    DONE = "done"

    def __str__(self) -> str:  # the value in messages and labels, not "StudyStatus.DONE"
        return self.value


STATUSES = tuple(status.value for status in StudyStatus)


@dataclass
class FindingState:
    id: str
    view: str
    box_px: list[float]
    contour_px: list[list[float]]
    origin: str  # "model" or "reader"
    score: float | None = None  # model's detection score (None for a reader's own finding)
    malignancy: float | None = None
    model_birads: str | None = None
    malignancy_withheld: str | None = None  # why the model's malignancy and BI-RADS are not shown
    decision: str = "pending"
    birads: str | None = None  # the reader's category (None: not set)
    biopsy: str | None = None
    comments: list[str] = field(default_factory=list)
    edited: bool = False
    original: dict[str, Any] = field(default_factory=dict)  # the model's output as it was

    def to_dict(self) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items()}


@dataclass
class StudyState:
    findings: dict[str, FindingState]
    status: StudyStatus = StudyStatus.UNREAD
    comments: list[str] = field(default_factory=list)
    undoable: list[int] = field(default_factory=list)  # event ids an undo would take back, last first
    redoable: list[int] = field(default_factory=list)  # undo event ids a redo would take back, last first

    def ordered(self) -> list[FindingState]:
        """Model findings by descending score, then the reader's own in the order they were added."""
        model = sorted((f for f in self.findings.values() if f.origin == "model"), key=lambda f: -(f.score or 0.0))
        return model + [f for f in self.findings.values() if f.origin == "reader"]


def initial_state(model_findings: list[dict[str, Any]]) -> StudyState:
    findings = {}
    for f in model_findings:
        findings[f["id"]] = FindingState(
            id=f["id"],
            view=f["view"],
            box_px=list(f["box_px"]),
            contour_px=[list(p) for p in f.get("contour_px", [])],
            origin="model",
            score=f.get("score"),
            malignancy=f.get("malignancy"),
            model_birads=f.get("birads"),
            malignancy_withheld=f.get("malignancy_withheld"),
            original=copy.deepcopy(f),
        )
    return StudyState(findings)


def derive(model_findings: list[dict[str, Any]], events: list[Any]) -> StudyState:
    """Replay ``events`` (store Events of one study, in id order) over the model's findings."""
    by_id = {e.id: e for e in events}
    effective: list[int] = []  # undoable events in force, in order
    redo_stack: list[int] = []  # undo events that a redo can take back
    for event in events:
        if event.action == "undo":
            target = (event.payload or {}).get("event_id")
            if target in effective:
                effective.remove(target)
                redo_stack.append(event.id)
        elif event.action == "redo":
            undo_id = (event.payload or {}).get("event_id")
            if undo_id in redo_stack:
                redo_stack.remove(undo_id)
                effective.append((by_id[undo_id].payload or {})["event_id"])
        elif event.action in UNDOABLE:
            effective.append(event.id)
            redo_stack.clear()
    state = initial_state(model_findings)
    for event_id in sorted(effective):  # replay in the order they happened, whatever the undo history
        _apply(state, by_id[event_id])
    if effective and "set_status" not in {by_id[i].action for i in effective}:
        state.status = StudyStatus.IN_PROGRESS
    state.undoable = list(reversed(effective))
    state.redoable = list(reversed(redo_stack))
    return state


def _apply(state: StudyState, event: Any) -> None:
    payload = event.payload or {}
    if event.action == "set_status":
        state.status = StudyStatus(payload["status"])  # the store's text, as the enum
        return
    if event.action == "comment" and event.finding_id is None:
        state.comments.append(payload["text"])
        return
    if event.action == "add_finding":
        after = event.after or {}
        state.findings[event.finding_id] = FindingState(
            id=event.finding_id,
            view=after["view"],
            box_px=list(after["box_px"]),
            contour_px=[list(p) for p in after.get("contour_px", [])],
            origin="reader",
            decision="accepted",
        )
        return
    finding = state.findings.get(event.finding_id)
    if finding is None:  # an event about a finding this result does not have: kept in the log, not shown
        return
    if event.action == "accept":
        finding.decision = "accepted"
    elif event.action == "reject":
        finding.decision = "rejected"
    elif event.action == "edit_geometry":
        after = event.after or {}
        finding.box_px = list(after["box_px"])
        finding.contour_px = [list(p) for p in after.get("contour_px", [])]
        finding.edited = True
    elif event.action == "set_birads":
        finding.birads = payload["birads"]
    elif event.action == "set_biopsy":
        finding.biopsy = payload["biopsy"]
    elif event.action == "comment":
        finding.comments.append(payload["text"])
