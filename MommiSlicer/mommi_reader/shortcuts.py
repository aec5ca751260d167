"""Every keyboard shortcut and mouse gesture of the reader, in one table.

The main window binds its actions from ``SHORTCUTS`` and the help dialog lists
the same table, so the help can never describe a key that does something else.
Single-letter keys do not fire while a text field has the focus (Qt gives the
key to the field), so a comment can contain any letter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    action: str  # the main window's name for the action
    keys: tuple[str, ...]  # QKeySequence portable text, first one shown in menus
    text: str  # what it does, for the help dialog and the menus
    group: str


SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("accept", ("A",), "Accept the selected finding", "Review"),
    Shortcut("reject", ("R",), "Reject the selected finding", "Review"),
    Shortcut("next_finding", ("N",), "Next finding", "Review"),
    Shortcut("previous_finding", ("P",), "Previous finding", "Review"),
    Shortcut("edit", ("E",), "Edit the selected finding's box: drag a corner handle", "Review"),
    Shortcut("add_mass", ("M",), "Add a missed mass: drag a rectangle in a view", "Review"),
    Shortcut("focus_birads", ("B",), "Go to the BI-RADS field (then arrow keys)", "Review"),
    Shortcut("focus_comment", ("C",), "Go to the comment field (Return stores the comment)", "Review"),
    Shortcut("undo", ("Ctrl+Z",), "Undo the last review action", "Review"),
    Shortcut("redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", "Review"),
    Shortcut("mark_done", ("Ctrl+D",), "Mark the study done", "Review"),
    Shortcut("escape", ("Esc",), "Leave edit / add mode, else cancel the analysis", "Review"),
    Shortcut("next_study", ("PgDown", "Ctrl+N"), "Next study in the worklist", "Worklist"),
    Shortcut("previous_study", ("PgUp", "Ctrl+P"), "Previous study in the worklist", "Worklist"),
    Shortcut("fit", ("F",), "Fit the images to their views", "Display"),
    Shortcut("reset_window", ("W",), "Reset window / level", "Display"),
    Shortcut("toggle_heat", ("Ctrl+1",), "Show / hide the probability heat map", "Display"),
    Shortcut("toggle_findings", ("Ctrl+2",), "Show / hide the findings", "Display"),
    Shortcut("toggle_nipple", ("Ctrl+3",), "Show / hide the nipple markers", "Display"),
    Shortcut("toggle_boxes", ("Ctrl+4",), "Draw boxes instead of outlines", "Display"),
    Shortcut("analyse", ("F5",), "Analyse (reuses saved results made by the same models)", "Analysis"),
    Shortcut("reanalyse", ("Shift+F5",), "Analyse again, ignoring saved results", "Analysis"),
    Shortcut("open_study", ("Ctrl+O",), "Open a study (files)", "File"),
    Shortcut("open_folder", ("Ctrl+Shift+O",), "Open a folder of studies (worklist)", "File"),
    Shortcut("open_pacs", ("Ctrl+Shift+P",), "Open from PACS... (search a server, retrieve a study)", "File"),
    Shortcut("export", ("Ctrl+E",), "Export a feedback batch", "File"),
    Shortcut("settings", ("Ctrl+,",), "Settings", "File"),
    Shortcut("help", ("H", "F1"), "This help", "File"),
    Shortcut("quit", ("Ctrl+Q",), "Quit", "File"),
)

#: mouse gestures (not bindable, listed in the help)
MOUSE: tuple[tuple[str, str], ...] = (
    ("Left click on a finding", "Select it"),
    ("Left drag on a corner handle (E)", "Resize the selected finding's box"),
    ("Left drag in add mode (M)", "Draw a missed mass"),
    ("Wheel", "Zoom (both views of a row together)"),
    ("Middle drag, or Space + left drag", "Pan (both views of a row together)"),
    ("Right drag", "Window (left / right) and level (up / down), all views"),
)

BY_ACTION: dict[str, Shortcut] = {s.action: s for s in SHORTCUTS}
