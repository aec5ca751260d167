"""The findings panel: the shared ``findings_panel.ui`` filled from a ReviewSession.

The panel shows the session (findings by score with malignancy and BI-RADS, the
selected finding's assessment and comments, the study status, whether undo and
redo are possible) and turns the reader's clicks into signals. It never changes
review state itself: the main window forwards each signal to the session and
then asks the panel to show the session again. Combo boxes report ``activated``
(a user's choice) rather than ``currentIndexChanged`` so that filling them from
the session never looks like a decision.
"""

from __future__ import annotations

import html

from PyQt5 import uic
from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtGui import QBrush
from PyQt5.QtWidgets import QComboBox, QHeaderView, QTableWidgetItem, QWidget

from mommi.feedback.state import STATUSES, FindingState
from mommi.review import panel_text
from mommi.review.panel_text import BIOPSY_ITEMS, BIRADS_ITEMS, COLUMNS, NOT_SET
from mommi.review.session import ReviewSession

from mommi_reader.imaging import finding_colour
from mommi_reader.resources import ui_file

UI_FILE = "findings_panel.ui"
MALIGNANCY_COLUMN = 2


def load_panel(parent: QWidget | None = None) -> QWidget:
    """The panel widget built from the shared Designer file (raises ResourceMissingError if absent)."""
    widget = uic.loadUi(str(ui_file(UI_FILE)))
    if parent is not None:
        widget.setParent(parent)
    return widget


class FindingsPanel(QObject):
    selected = pyqtSignal(str)
    accept_clicked = pyqtSignal()
    reject_clicked = pyqtSignal()
    next_clicked = pyqtSignal()
    previous_clicked = pyqtSignal()
    birads_chosen = pyqtSignal(str)
    biopsy_chosen = pyqtSignal(str)
    comment_entered = pyqtSignal(str)
    undo_clicked = pyqtSignal()
    redo_clicked = pyqtSignal()
    status_chosen = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.widget = load_panel(parent)
        w = self.widget
        self._fill_combo(w.biradsCombo, BIRADS_ITEMS)  # the engine's lists, the same as in Slicer
        self._fill_combo(w.biopsyCombo, BIOPSY_ITEMS)
        self._fill_combo(w.statusCombo, STATUSES)
        table = w.findingsTable
        table.setColumnCount(len(COLUMNS))
        table.setHorizontalHeaderLabels(list(COLUMNS))
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.itemSelectionChanged.connect(self._row_selected)
        w.acceptButton.clicked.connect(self.accept_clicked)
        w.rejectButton.clicked.connect(self.reject_clicked)
        w.nextButton.clicked.connect(self.next_clicked)
        w.previousButton.clicked.connect(self.previous_clicked)
        w.undoButton.clicked.connect(self.undo_clicked)
        w.redoButton.clicked.connect(self.redo_clicked)
        w.biradsCombo.activated.connect(lambda i: self._chosen(w.biradsCombo, i, self.birads_chosen))
        w.biopsyCombo.activated.connect(lambda i: self._chosen(w.biopsyCombo, i, self.biopsy_chosen))
        w.statusCombo.activated.connect(lambda i: self.status_chosen.emit(w.statusCombo.itemText(i)))
        w.commentButton.clicked.connect(self._comment)
        w.commentEdit.returnPressed.connect(self._comment)
        self._filling = False
        self.show(None)

    @staticmethod
    def _fill_combo(combo: QComboBox, items: tuple[str, ...]) -> None:
        combo.clear()
        combo.addItems(list(items))

    @staticmethod
    def _chosen(combo: QComboBox, index: int, signal: pyqtSignal) -> None:
        text = combo.itemText(index)
        if text != NOT_SET:
            signal.emit(text)

    def _row_selected(self) -> None:
        if self._filling:
            return
        rows = self.widget.findingsTable.selectionModel().selectedRows()
        if rows:
            item = self.widget.findingsTable.item(rows[0].row(), 0)
            if item is not None:
                self.selected.emit(item.data(Qt.UserRole))

    def _comment(self) -> None:
        text = self.widget.commentEdit.text().strip()
        if text:
            self.comment_entered.emit(text)

    def clear_comment(self) -> None:
        self.widget.commentEdit.clear()

    # ------------------------------------------------------------------ showing a session
    def show(self, session: ReviewSession | None, study_text: str = "No study open") -> None:
        """Fill every widget from ``session`` (None: nothing to review yet). ``study_text`` is rich text; the
        session's result version and carried-over decisions are added below it after a re-analysis."""
        w = self.widget
        self._filling = True
        try:
            note = panel_text.continuity(session) if session is not None else ""
            w.studyLabel.setText(study_text + (f"<br>{html.escape(note)}" if note else ""))
            findings = session.findings if session is not None else []
            selected = session.selected if session is not None else None
            self._fill_table(findings, selected)
            has_study, has_selection = session is not None, selected is not None
            for button in (
                w.acceptButton,
                w.rejectButton,
                w.biradsCombo,
                w.biopsyCombo,
                w.commentEdit,
                w.commentButton,
            ):
                button.setEnabled(has_selection)
            for button in (w.nextButton, w.previousButton):
                button.setEnabled(bool(findings))
            w.statusCombo.setEnabled(has_study)
            w.undoButton.setEnabled(bool(session and session.can_undo))
            w.redoButton.setEnabled(bool(session and session.can_redo))
            w.statusCombo.setCurrentIndex(max(0, w.statusCombo.findText(session.status if session else STATUSES[0])))
            w.biradsCombo.setCurrentIndex(max(0, w.biradsCombo.findText(selected.birads or NOT_SET)) if selected else 0)
            w.biopsyCombo.setCurrentIndex(max(0, w.biopsyCombo.findText(selected.biopsy or NOT_SET)) if selected else 0)
            w.commentsList.clear()
            if selected is not None:
                w.commentsList.addItems(selected.comments)
            w.detailsLabel.setText(panel_text.details(selected))
        finally:
            self._filling = False

    def _fill_table(self, findings: list[FindingState], selected: FindingState | None) -> None:
        table = self.widget.findingsTable
        table.clearSelection()
        table.setRowCount(len(findings))
        for row, finding in enumerate(findings):
            for column, text in enumerate(panel_text.row(finding)):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, finding.id)
                if column == MALIGNANCY_COLUMN:
                    item.setForeground(QBrush(finding_colour(finding.malignancy)))
                table.setItem(row, column, item)
            if selected is not None and finding.id == selected.id:
                table.selectRow(row)
                table.scrollToItem(table.item(row, 0))
