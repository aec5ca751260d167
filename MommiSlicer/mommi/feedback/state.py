"""The current review state of a study, derived from its append-only events.

Nothing is ever overwritten in the store: the state a reader sees is a replay of
the model's findings and every event since, so the audit trail and the state can
never disagree. Undo and redo are events too: ``undo`` names the event it takes
back, ``redo`` the undo it takes back; the replay keeps the usual editor rule
(a new action after an undo clears what could be redone).

A study analysed again has several result versions (``mommi.feedback.store``), and
the state is always that of one of them, normally the current one. Decisions made
on another version are carried over by replay, never by rewriting them: a decision
on a model finding applies to the finding of this result that is the same mass
(same view, boxes overlapping by ``MATCH_IOU`` or more); one on a finding this
result does not have stays in the audit trail and is counted in
``StudyState.not_carried_over``. The reader's own masses and study comments carry
over as they are; the study status only when the findings are the same (see ``derive``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from mommi.findings.regions import box_iou

if TYPE_CHECKING:
    from mommi.feedback.store import ReviewStore

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

#: a model finding of another result version is the same finding as one of this result when both are on
#: the same view and their boxes overlap by at least this IoU: the detection convention for "the same
#: object" (the pipeline's own duplicate rule, ``mommi.findings.regions.DUPLICATE_IOU``), so a decision
#: follows its mass to a box another model drew somewhat larger or shifted, while a neighbouring mass (a box
#: that overlaps less) keeps its own decisions
MATCH_IOU = 0.5


@dataclass(frozen=True)
class AppliedEvent:
    """A reader's event in force on a finding, and the result it was made on (what exports report)."""

    action: str
    result_version: int
    model_version: str | None  # as the event recorded it (None: before schema 2)
    carried_from: str | None = None  # the finding's id in that result, when made on another result version
    iou: float | None = None  # how much the two model boxes overlap, when carried over

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    applied: list[AppliedEvent] = field(default_factory=list)  # the reader's events in force, oldest first

    def to_dict(self) -> dict[str, Any]:
        return {k: [a.to_dict() for a in v] if k == "applied" else copy.deepcopy(v) for k, v in self.__dict__.items()}


@dataclass
class StudyState:
    findings: dict[str, FindingState]
    status: StudyStatus = StudyStatus.UNREAD
    comments: list[str] = field(default_factory=list)
    undoable: list[int] = field(default_factory=list)  # event ids an undo would take back, last first
    redoable: list[int] = field(default_factory=list)  # undo event ids a redo would take back, last first
    result_version: int = 1  # the study's result version whose findings these are
    #: ids of events in force made on another result version's finding that this result does not have
    not_carried_over: list[int] = field(default_factory=list)
    #: how many events in force made on another result version apply to this one
    carried_over: int = 0

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


def match_findings(
    earlier: list[dict[str, Any]], current: list[dict[str, Any]], threshold: float = MATCH_IOU
) -> dict[str, tuple[str, float]]:
    """Which finding of ``current`` each finding of ``earlier`` is: ``{earlier id: (current id, IoU)}``.

    Same view and box IoU >= ``threshold``, one to one (two old decisions never land on one new finding,
    nor one on two), the largest overlaps first; ties go by the findings' order, so the answer is stable.
    """
    pairs: list[tuple[float, int, int]] = []
    for i, old in enumerate(earlier):
        for j, new in enumerate(current):
            if old.get("view") is None or old.get("view") != new.get("view"):
                continue
            if old.get("box_px") is None or new.get("box_px") is None:
                continue
            iou = box_iou(old["box_px"], new["box_px"])
            if iou >= threshold:
                pairs.append((-iou, i, j))
    matched: dict[str, tuple[str, float]] = {}
    taken: set[int] = set()
    for negative_iou, i, j in sorted(pairs):
        old_id = str(earlier[i]["id"])
        if old_id in matched or j in taken:
            continue
        matched[old_id] = (str(current[j]["id"]), round(-negative_iou, 4))
        taken.add(j)
    return matched


def derive(
    model_findings: list[dict[str, Any]],
    events: list[Any],
    *,
    result_version: int = 1,
    findings_by_version: Mapping[int, list[dict[str, Any]]] | None = None,
) -> StudyState:
    """Replay ``events`` (store Events of one study, in id order) over the model's findings of result version
    ``result_version`` (``model_findings``).

    An event made on another result version (``Event.result_version``; ``findings_by_version`` holds the
    study's results' findings) is carried over: on a model finding of its result, to the matching finding
    of this one (``match_findings``), or, without a match, not applied and listed in ``not_carried_over``;
    on a finding that is no model finding of its result (a reader's added mass), as it is; study comments
    as they are. A study status set on another result applies only when every finding of that result
    matches one of this result and none is new: a study marked done on other findings than these is in
    progress until a reader sets its status on them (a re-analysis that moved nothing keeps it done).
    """
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
    state.result_version = result_version
    others = findings_by_version or {}
    matches: dict[int, dict[str, tuple[str, float]]] = {}  # per other version: its finding ids -> this result's

    def matched(version: int) -> dict[str, tuple[str, float]]:
        if version not in matches:
            matches[version] = match_findings(others.get(version, []), model_findings)
        return matches[version]

    status_set = False
    for event_id in sorted(effective):  # replay in the order they happened, whatever the undo history
        event = by_id[event_id]
        made_on = AppliedEvent(event.action, event.result_version, event.model_version)
        target = event.finding_id
        if event.result_version != result_version:
            theirs = others.get(event.result_version, [])
            if event.action == "set_status" and not len(matched(event.result_version)) == len(theirs) == len(
                model_findings
            ):
                continue  # set on other findings than these
            if target in {str(f["id"]) for f in theirs}:  # a reader's added mass (id "<view>-R<n>") never is
                match = matched(event.result_version).get(target)
                if match is None:
                    state.not_carried_over.append(event.id)
                    continue
                made_on = AppliedEvent(event.action, event.result_version, event.model_version, target, match[1])
                target = match[0]
            state.carried_over += 1
        status_set |= event.action == "set_status"
        _apply(state, event, target, made_on)
    if effective and not status_set:
        state.status = StudyStatus.IN_PROGRESS
    state.undoable = list(reversed(effective))
    state.redoable = list(reversed(redo_stack))
    return state


def state_of(
    store: ReviewStore, study_uid: str, events: list[Any] | None = None, result_version: int | None = None
) -> StudyState:
    """The review state of a stored study on one of its result versions (None: the current one), from
    ``events`` (None: all of the study's): what the export, the statistics and the worklist show."""
    findings = store.findings_by_version(study_uid)
    version = max(findings, default=1) if result_version is None else result_version
    return derive(
        findings.get(version, []),
        store.events(study_uid) if events is None else events,
        result_version=version,
        findings_by_version=findings,
    )


def _apply(state: StudyState, event: Any, target: str | None, made_on: AppliedEvent) -> None:
    """Apply one event in force to ``target`` (its finding here: carried over, another id than the event's)."""
    payload = event.payload or {}
    if event.action == "set_status":
        state.status = StudyStatus(payload["status"])  # the store's text, as the enum
        return
    if target is None:  # about the study, not a finding: only a comment is
        if event.action == "comment":
            state.comments.append(payload["text"])
        return
    if event.action == "add_finding":
        after = event.after or {}
        state.findings[target] = FindingState(
            id=target,
            view=after["view"],
            box_px=list(after["box_px"]),
            contour_px=[list(p) for p in after.get("contour_px", [])],
            origin="reader",
            decision="accepted",
            applied=[made_on],
        )
        return
    finding = state.findings.get(target)
    if finding is None:  # an event about a finding this result does not have: kept in the log, not shown
        return
    finding.applied.append(made_on)
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
