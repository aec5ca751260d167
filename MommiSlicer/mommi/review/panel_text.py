"""What the shared findings panel (``Resources/UI/findings_panel.ui``) shows, as plain data.

Both front ends fill the same .ui from a ``ReviewSession``: the desktop reader with PyQt5,
Slicer with its own bindings (PythonQt). The columns, items and wording come from here, so the
two show the same texts, and the texts are tested without any Qt.
"""

from __future__ import annotations

from typing import Any

from mommi.feedback.state import BIOPSY, STATUSES
from mommi.findings.birads import BIRADS_CATEGORIES

NOT_SET = "not set"
COLUMNS = ("Finding", "Score", "Malignancy", "BI-RADS", "Decision")
BIRADS_ITEMS = (NOT_SET, *BIRADS_CATEGORIES)
BIOPSY_ITEMS = (NOT_SET, *BIOPSY)
STATUS_ITEMS = tuple(STATUSES)


#: the malignancy cell of a finding whose probability the product does not show (see ``details`` for why)
WITHHELD = "withheld"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def row(finding: Any) -> tuple[str, ...]:
    """The table row of one finding, in COLUMNS order."""
    birads = f"{finding.birads} (reader)" if finding.birads else (finding.model_birads or "")
    malignancy = WITHHELD if getattr(finding, "malignancy_withheld", None) else _number(finding.malignancy)
    return (
        finding.id,
        _number(finding.score),
        malignancy,
        birads,
        finding.decision + (", edited" if finding.edited else ""),
    )


def rows(session: Any) -> list[tuple[str, ...]]:
    """One row per finding in reading order (model findings by score, then the reader's own)."""
    return [row(f) for f in session.findings]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def continuity(session: Any) -> str:
    """What the reader must know about a study analysed more than once (plain text; empty when the
    decisions shown were all made on this result): which result version is shown, how many decisions made
    on another analysis carry over to its findings, and how many do not because their finding is not in
    this result (they stay in the audit trail)."""
    state = session.state
    if state.result_version == 1 and not state.carried_over and not state.not_carried_over:
        return ""
    parts = []
    if state.carried_over:
        parts.append(f"{_count(state.carried_over, 'decision')} from another analysis carried over")
    if state.not_carried_over:
        parts.append(
            f"{_count(len(state.not_carried_over), 'decision')} not carried over "
            "(no matching finding in this analysis; kept in the audit trail)"
        )
    return f"Result version {state.result_version}" + (": " + "; ".join(parts) if parts else "")


def details(finding: Any) -> str:
    """Rich text about the selected finding (None: nothing selected)."""
    if finding is None:
        return "No finding selected."
    x0, y0, x1, y1 = finding.box_px
    origin = "added by a reader" if finding.origin == "reader" else f"model (score {_number(finding.score)})"
    lines = [
        f"<b>{finding.id}</b> on {finding.view}: {origin}",
        f"box {x0:.0f}, {y0:.0f} to {x1:.0f}, {y1:.0f} px" + (" (edited)" if finding.edited else ""),
    ]
    original = finding.original or {}
    if original.get("branch"):
        lines.append(f"read by the {original['branch']} branch")
    if original.get("ipsilateral_partner"):
        lines.append(f"same mass in the other view: {original['ipsilateral_partner']}")
    if getattr(finding, "malignancy_withheld", None):
        lines.append(f"malignancy and BI-RADS estimate withheld: the classifier {finding.malignancy_withheld}")
    return "<br>".join(lines)
