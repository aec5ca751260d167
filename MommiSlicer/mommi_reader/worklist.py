"""The worklist: the studies of an opened folder with their reading status, and next / previous study.

Statuses come from the review store (``unread``, ``in progress``, ``done``, as
``mommi.feedback.state`` derives them from the stored events), so the list is
right even for studies another workstation has read. A study retrieved from a
PACS names its server in the "From" column (hidden while every study is local).
The widget only shows entries and reports which one the reader wants; the main
window opens it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor
from PyQt5.QtWidgets import QHBoxLayout, QHeaderView, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from mommi.feedback.state import state_of
from mommi.feedback.store import ReviewStore, ReviewStoreError
from mommi.pacs.dicomweb import host_of

from mommi_reader.study_data import WorklistEntry

STATUS_COLUMN, FROM_COLUMN = 3, 4
STATUS_COLOURS = {"unread": QColor(200, 200, 200), "in progress": QColor(255, 176, 0), "done": QColor(40, 200, 40)}


def study_status(store: ReviewStore, study_uid: str) -> str:
    """The study's status as the store's events say (a study never analysed here is unread)."""
    try:
        if store.study(study_uid) is None:
            return "unread"
        return state_of(store, study_uid).status
    except ReviewStoreError:  # a busy or damaged database: the list still opens; the study says why on open
        return "unknown"


class WorklistWidget(QWidget):
    open_requested = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[WorklistEntry] = []
        self.origins: list[str] = []  # per entry: the PACS server it was retrieved from, "" for a local study
        self.current = -1
        self.table = QTableWidget(0, 5, self)
        self.table.setObjectName("worklistTable")
        self.table.setHorizontalHeaderLabels(("Patient", "Date", "Views", "Status", "From"))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.cellActivated.connect(lambda row, _column: self.open_requested.emit(row))
        self.table.cellDoubleClicked.connect(lambda row, _column: self.open_requested.emit(row))
        self.previous_button = QPushButton("Previous study (PgUp)")
        self.next_button = QPushButton("Next study (PgDown)")
        self.previous_button.clicked.connect(self.request_previous)
        self.next_button.clicked.connect(self.request_next)
        buttons = QHBoxLayout()
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_entries(
        self, entries: list[WorklistEntry], store: ReviewStore, origins: Sequence[str] | None = None
    ) -> None:
        """Show ``entries``; ``origins`` (one per entry) names the PACS server of each retrieved study."""
        self.entries, self.current = list(entries), -1
        self.origins = list(origins) if origins is not None else [""] * len(entries)
        self.table.setRowCount(len(entries))
        for row, (entry, origin) in enumerate(zip(self.entries, self.origins)):
            shown = (entry.patient_key, entry.study_date, " ".join(entry.views), "", host_of(origin))
            tip = f"study {entry.study_uid}\n" + (f"retrieved from {origin}\n" if origin else "")
            for column, text in enumerate(shown):
                item = QTableWidgetItem(text)
                item.setToolTip(tip + "\n".join(str(p) for p in entry.paths))
                self.table.setItem(row, column, item)
            self.set_status(entry.study_uid, study_status(store, entry.study_uid))
        self.table.setColumnHidden(FROM_COLUMN, not any(self.origins))
        self._update_buttons()

    def set_status(self, study_uid: str, status: str) -> None:
        for row, entry in enumerate(self.entries):
            if entry.study_uid == study_uid:
                item = QTableWidgetItem(status)
                item.setForeground(QBrush(STATUS_COLOURS.get(status, QColor(Qt.white))))
                self.table.setItem(row, STATUS_COLUMN, item)

    def status_of(self, row: int) -> str:
        item = self.table.item(row, STATUS_COLUMN)
        return item.text() if item is not None else ""

    def set_current(self, row: int) -> None:
        self.current = row
        self.table.selectRow(row)
        self._update_buttons()

    def request_next(self) -> bool:
        if 0 <= self.current + 1 < len(self.entries):
            self.open_requested.emit(self.current + 1)
            return True
        return False

    def request_previous(self) -> bool:
        if self.current - 1 >= 0:
            self.open_requested.emit(self.current - 1)
            return True
        return False

    def _update_buttons(self) -> None:
        self.previous_button.setEnabled(self.current > 0)
        self.next_button.setEnabled(0 <= self.current < len(self.entries) - 1)
