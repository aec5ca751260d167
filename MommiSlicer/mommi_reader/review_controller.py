"""The one path from the reader's gestures to ``ReviewSession``.

Every review action of the window (keys, panel buttons, mouse edits) calls a
method here, which calls the session (the session writes the event to the store
before it returns) and then emits ``changed`` so the views and the panel show
the state the store now holds. A refused action (``ReviewError``) or a store
failure becomes a dialog; nothing is retried behind the reader's back and
nothing is kept only in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QWidget

from mommi.feedback.store import ReviewStore, ReviewStoreError
from mommi.review.session import ReviewError, ReviewSession

from mommi_reader import dialogs

log = logging.getLogger(__name__)


class ReviewController(QObject):
    changed = pyqtSignal()  # state or selection changed: redraw
    message = pyqtSignal(str)  # a hint for the status bar

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self.session: ReviewSession | None = None

    def open(self, store: ReviewStore, folder: Path, reader: str, role: str) -> bool:
        """Start reviewing the result in ``folder``; a dialog says why when that is impossible."""
        self.session = None
        try:
            self.session = ReviewSession(store, folder, reader=reader, role=role)
        except (ReviewError, ReviewStoreError) as exc:
            dialogs.error(self._parent, "Cannot review this study", str(exc))
        self.changed.emit()
        return self.session is not None

    def close(self) -> None:
        self.session = None
        self.changed.emit()

    def _run(self, what: str, action: Callable[[ReviewSession], Any], needs_selection: bool = True) -> bool:
        session = self.session
        if session is None:
            self.message.emit("No study to review yet")
            return False
        if needs_selection and session.selected is None:
            self.message.emit("No finding selected")
            return False
        try:
            action(session)
            return True
        except ReviewError as exc:
            dialogs.warning(self._parent, f"Cannot {what}", str(exc))
        except ReviewStoreError as exc:
            dialogs.error(
                self._parent,
                "Not saved",
                f"{exc}\n\nThis action was NOT stored. Your earlier actions are safe; try again.",
            )
        finally:
            self.changed.emit()
        return False

    # ------------------------------------------------------------------ selection (not stored)
    def select(self, finding_id: str) -> bool:
        return self._run("select the finding", lambda s: s.select(finding_id), needs_selection=False)

    def next(self) -> bool:
        return self._run("go to the next finding", lambda s: s.next(), needs_selection=False)

    def previous(self) -> bool:
        return self._run("go to the previous finding", lambda s: s.previous(), needs_selection=False)

    # ------------------------------------------------------------------ decisions (stored at once)
    def accept(self) -> bool:
        return self._run("accept the finding", lambda s: s.accept())

    def reject(self) -> bool:
        return self._run("reject the finding", lambda s: s.reject())

    def edit_geometry(self, finding_id: str, box: Sequence[float], contour: Sequence[Sequence[float]] | None) -> bool:
        def edit(s: ReviewSession) -> None:
            s.select(finding_id)
            s.edit_geometry(box, contour, finding_id=finding_id)

        return self._run("change the box", edit, needs_selection=False)

    def add_mass(self, view: str, box: Sequence[float]) -> bool:
        return self._run("add the mass", lambda s: s.add_mass(view, box), needs_selection=False)

    def set_birads(self, category: str) -> bool:
        return self._run("set BI-RADS", lambda s: s.set_birads(category))

    def set_biopsy(self, outcome: str) -> bool:
        return self._run("set the biopsy result", lambda s: s.set_biopsy(outcome))

    def comment(self, text: str) -> bool:
        return self._run("store the comment", lambda s: s.comment(text))

    def set_status(self, status: str) -> bool:
        return self._run("change the study status", lambda s: s.set_status(status), needs_selection=False)

    def undo(self) -> bool:
        def undo(s: ReviewSession) -> None:
            if not s.undo():
                self.message.emit("Nothing to undo")

        return self._run("undo", undo, needs_selection=False)

    def redo(self) -> bool:
        def redo(s: ReviewSession) -> None:
            if not s.redo():
                self.message.emit("Nothing to redo")

        return self._run("redo", redo, needs_selection=False)
