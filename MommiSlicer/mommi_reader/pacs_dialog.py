"""File > Open from PACS: search a server's mammography studies (the PACS worklist), retrieve one, open it.

The protocol (DICOMweb or DIMSE) is the engine's choice (``mommi.pacs.source``); this dialog only asks and
shows. A PACS can be slow or unreachable for minutes (the engine's timeouts and retries), so every request
runs in a ``PacsCall`` thread and the window never freezes. Closing the dialog or pressing Cancel abandons the
request: its answer is dropped when it comes, a retrieve stops at its next instance, and the thread is waited
for (``shutdown``, when the main window closes) before the dialog is destroyed, never left running under a
deleted QThread.

Credentials are never typed here: they come from the environment (MOMMI_PACS_TOKEN, or MOMMI_PACS_USER and
MOMMI_PACS_PASSWORD) or the engine's settings file, so an address with a login in it is refused rather than
remembered. The servers searched successfully are remembered (``pacs_servers`` of ``ReaderSettings``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from PyQt5.QtCore import QDate, Qt, QThread, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mommi.errors import MommiError
from mommi.pacs import source
from mommi.pacs.dicomweb import StudySummary

from mommi_reader.settings import ReaderSettings

log = logging.getLogger(__name__)
RECENT_SERVERS = 10
COLUMNS = ("Date", "Patient", "Accession", "Description", "Images")
CREDENTIALS_HINT = (
    "The PACS login comes from the environment (MOMMI_PACS_TOKEN, or MOMMI_PACS_USER and "
    'MOMMI_PACS_PASSWORD) or the settings file\'s "pacs" entry; it is never typed here.'
)

Progress = Callable[[int], None]
Answer = Callable[[Any], None]  # a list of StudySummary, or a retrieved study's folder


class Abandoned(Exception):
    """Raised in a retrieve's progress callback once nobody waits for it: the download stops there."""


class PacsCall(QThread):
    """One search or retrieve off the GUI thread; its answer, failure and progress carry its token so the
    dialog can tell the request it waits for from one it has abandoned."""

    answered = pyqtSignal(int, object)  # token, the job's return value
    failed = pyqtSignal(int, str)  # token, what went wrong in words
    received = pyqtSignal(int, int)  # token, instances received so far

    def __init__(self, token: int, job: Callable[[Progress], object], parent: QWidget) -> None:
        super().__init__(parent)
        self.token, self.job = token, job
        self.abandoned = False  # written by the GUI thread, read here between instances

    def run(self) -> None:
        try:
            self.answered.emit(self.token, self.job(self._progress))
        except Abandoned:
            pass
        except MommiError as exc:  # PacsError, and CredentialsError from a bad settings file
            self.failed.emit(self.token, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never raised into Qt
            log.exception("PACS request failed")
            self.failed.emit(self.token, f"unexpected error ({type(exc).__name__}: {exc})")

    def _progress(self, count: int) -> None:
        if self.abandoned:
            raise Abandoned
        self.received.emit(self.token, count)


def login_in_address(server: str) -> bool:
    """True for an http(s) address carrying a user or password (``https://user:pw@host/...``): a login
    belongs in the environment, not in a field whose value is remembered in a settings file."""
    parts = urlsplit(server)
    return parts.scheme in ("http", "https") and (parts.username is not None or parts.password is not None)


def study_date(text: str) -> str:
    """``YYYYMMDD`` as ``YYYY-MM-DD`` (anything else as it came)."""
    return f"{text[:4]}-{text[4:6]}-{text[6:]}" if len(text) == 8 and text.isdigit() else text


class PacsDialog(QDialog):
    """Search, list and retrieve; ``retrieved`` hands the study's folder, its URL and server to the main window."""

    retrieved = pyqtSignal(str, str, str)  # the folder holding the study's files, its URL, the server searched

    def __init__(self, settings: ReaderSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pacsDialog")
        self.setWindowTitle("Open from PACS")
        self.resize(820, 560)
        self.settings = settings
        self.studies: list[StudySummary] = []
        self.results_server = ""  # the server the listed studies are on (the field may be edited since)
        self._token = 0
        self._call: PacsCall | None = None  # the request whose answer the dialog waits for
        self._then: Answer = lambda _answer: None  # what is done with that answer (GUI thread)
        self._calls: list[PacsCall] = []  # every thread not yet finished, abandoned ones included
        self._received = 0

        self.server = QComboBox()
        self.server.setObjectName("pacsServer")
        self.server.setEditable(True)
        self.server.addItems(settings.get("pacs_servers"))
        self.server.lineEdit().setPlaceholderText("https://host:port/dicom-web  or  dimse://AET@host:port")
        self.patient = QLineEdit()
        self.patient.setPlaceholderText("any patient")
        self.accession = QLineEdit()
        self.accession.setPlaceholderText("any accession number")
        self.use_since = QCheckBox("only studies since")
        self.since = QDateEdit(QDate.currentDate().addYears(-1))
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setEnabled(False)
        self.use_since.toggled.connect(self.since.setEnabled)
        since_row = QHBoxLayout()
        since_row.addWidget(self.use_since)
        since_row.addWidget(self.since)
        since_row.addStretch(1)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        form = QFormLayout()
        form.addRow("PACS:", self.server)
        form.addRow("Patient ID:", self.patient)
        form.addRow("Study date:", since_row)
        form.addRow("Accession:", self.accession)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("pacsStudies")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setSelectionMode(QTableWidget.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.cellDoubleClicked.connect(lambda _row, _column: self.retrieve())

        self.message = QLabel("")
        self.message.setObjectName("pacsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # how many instances a study has is not known for sure: a busy bar
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.retrieve_button = QPushButton("Retrieve and open")
        self.retrieve_button.clicked.connect(self.retrieve)
        self.close_button = QPushButton("Close")
        self.close_button.setAutoDefault(False)
        self.close_button.clicked.connect(self.reject)
        hint = QLabel(CREDENTIALS_HINT)
        hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.retrieve_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.search_button, 0, Qt.AlignRight)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addWidget(hint)
        self._update_buttons()

    # ------------------------------------------------------------------ requests
    @property
    def busy(self) -> bool:
        """A search or retrieve is running and its answer is awaited."""
        return self._call is not None

    def search(self) -> None:
        """List the server's mammography studies matching the filters (in a thread)."""
        server = self.server.currentText().strip()
        if not server:
            self._say("Give the PACS address first.")
            return
        if login_in_address(server):
            self._say(f"Leave the login out of the address: {CREDENTIALS_HINT}")
            return
        patient = self.patient.text().strip() or None
        accession = self.accession.text().strip() or None
        since = self.since.date().toString("yyyyMMdd") if self.use_since.isChecked() else None
        self._start(
            lambda _progress: source.find(server, patient, since, accession),
            lambda studies: self._show_studies(server, studies),
            f"Searching {server}...",
        )

    def retrieve(self) -> None:
        """Fetch the selected study into the cache (in a thread); ``retrieved`` is emitted when it is all there."""
        row = self.table.currentRow()
        if self.busy or not 0 <= row < len(self.studies):
            return
        server = self.results_server
        url = source.study_url(server, self.studies[row].study_uid)
        self._received = 0
        self._start(
            lambda progress: source.retrieve(url, progress=progress),
            lambda folder: self._open(str(folder), url, server),
            "Retrieving the study...",
        )

    def cancel(self) -> None:
        """Stop waiting for the running request (a retrieve stops at its next instance)."""
        if self._call is not None:
            self._abandon()
            self._say("Cancelled.")

    def reject(self) -> None:
        """Close, Escape and the window's close button: the running request is abandoned, its thread ends on
        its own (the dialog is kept by the main window, so it outlives the thread)."""
        self._abandon()
        super().reject()

    def shutdown(self) -> None:
        """The main window closes: abandon the request and wait until every request thread has ended (the
        engine's timeouts bound each), so that none is destroyed while it runs."""
        self._abandon()
        self.close()
        for call in list(self._calls):
            call.wait()

    # ------------------------------------------------------------------ threads
    def _start(self, job: Callable[[Progress], object], then: Answer, text: str) -> None:
        self._abandon()
        self._token += 1
        self._then = then
        call = PacsCall(self._token, job, self)
        call.answered.connect(self._answered)
        call.failed.connect(self._failed)
        call.received.connect(self._on_received)
        call.finished.connect(self._forget)
        self._call = call
        self._calls.append(call)
        self._say(text)
        self._update_buttons()
        call.start()

    def _abandon(self) -> None:
        if self._call is not None:
            self._call.abandoned = True
            self._call = None
            self._update_buttons()

    def _awaited(self, token: int) -> bool:
        return self._call is not None and self._call.token == token

    def _forget(self) -> None:
        call = self.sender()
        if isinstance(call, PacsCall) and call in self._calls:
            call.wait()  # finished is emitted just before the thread ends
            self._calls.remove(call)
            call.deleteLater()

    # ------------------------------------------------------------------ answers (GUI thread)
    def _answered(self, token: int, answer: object) -> None:
        if not self._awaited(token):
            return
        self._call = None
        self._update_buttons()
        self._then(answer)

    def _failed(self, token: int, text: str) -> None:
        if not self._awaited(token):
            return
        self._call = None
        self._update_buttons()
        log.warning("PACS: %s", text)
        self._say(text)

    def _on_received(self, token: int, count: int) -> None:
        if self._awaited(token):
            self._received = count
            self._say(f"{count} instances received")

    # ------------------------------------------------------------------ display
    def _show_studies(self, server: str, studies: list[StudySummary]) -> None:
        self.results_server, self.studies = server, studies
        self.table.setRowCount(len(studies))
        for row, study in enumerate(studies):
            images = "" if study.instances is None else str(study.instances)
            texts = (study_date(study.study_date), study.patient_id, study.accession, study.description, images)
            for column, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setToolTip(f"study {study.study_uid}")
                self.table.setItem(row, column, item)
        if studies:
            self.table.selectRow(0)
        self._remember(server)
        self._say(f"{len(studies)} mammography studies on {server}" if studies else f"No matching study on {server}.")

    def _open(self, folder: str, url: str, server: str) -> None:
        self._say(f"{self._received} instances received; the study opens in the reader.")
        self.retrieved.emit(folder, url, server)
        self.accept()

    def _remember(self, server: str) -> None:
        """The server first in the list of recent ones (it answered, so it is worth offering again)."""
        servers = [server, *(s for s in self.settings.get("pacs_servers") if s != server)][:RECENT_SERVERS]
        self.settings.set("pacs_servers", servers)
        self.server.clear()
        self.server.addItems(servers)
        self.server.setCurrentText(server)

    def _say(self, text: str) -> None:
        self.message.setText(text)

    def _update_buttons(self) -> None:
        self.search_button.setEnabled(not self.busy)
        self.retrieve_button.setEnabled(not self.busy and self.table.currentRow() >= 0)
        self.cancel_button.setEnabled(self.busy)
        self.progress.setVisible(self.busy)
