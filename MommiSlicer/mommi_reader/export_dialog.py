"""The "Export feedback batch" dialog: folder, filters (reader, status, since), zip; runs export_batch.

The export de-identifies and copies every image of the chosen studies, which can
take a while, so it runs in a QThread. SQLite connections belong to the thread
that opened them, so the thread opens its own ``ReviewStore`` on the same file
(the store is made for several connections at once).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import QDateTime, QThread, pyqtSignal
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from mommi.feedback.export import ExportError, ExportFilters, export_batch
from mommi.feedback.state import STATUSES
from mommi.feedback.store import open_store, ReviewStoreError, utc_timestamp

from mommi_reader import dialogs

log = logging.getLogger(__name__)
ANY = "any"


class ExportThread(QThread):
    done = pyqtSignal(object)  # ExportResult
    failed = pyqtSignal(str)

    def __init__(self, store_location: str | Path, out: Path, filters: ExportFilters, as_zip: bool) -> None:
        super().__init__()
        self.store_location, self.out, self.filters, self.as_zip = store_location, out, filters, as_zip

    def run(self) -> None:
        try:
            with open_store(self.store_location) as store:  # its own connection: this is another thread
                self.done.emit(export_batch(store, self.out, self.filters, as_zip=self.as_zip))
        except (ExportError, ReviewStoreError, OSError, ValueError) as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown in a dialog, never raised into Qt
            log.exception("export failed")
            self.failed.emit(f"unexpected error ({type(exc).__name__}: {exc})")


class ExportDialog(QDialog):
    exported = pyqtSignal(object)  # ExportResult

    def __init__(
        self, store_location: str | Path, folder: str = "", reader: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export feedback batch")
        self.store_location = store_location
        self.thread_: ExportThread | None = None
        form = QFormLayout(self)
        default = Path(folder or Path.home()) / f"feedback-{QDateTime.currentDateTime().toString('yyyyMMdd-HHmm')}"
        self.out = QLineEdit(str(default))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out)
        row.addWidget(browse)
        self.reader = QLineEdit(reader)
        self.reader.setPlaceholderText("every reader")
        self.status = QComboBox()
        self.status.addItems([ANY, *STATUSES])
        self.status.setCurrentText("done")
        self.use_since = QCheckBox("only events since")
        self.since = QDateTimeEdit(QDateTime.currentDateTime().addDays(-30))
        self.since.setCalendarPopup(True)
        self.since.setEnabled(False)
        self.use_since.toggled.connect(self.since.setEnabled)
        since_row = QHBoxLayout()
        since_row.addWidget(self.use_since)
        since_row.addWidget(self.since)
        self.as_zip = QCheckBox("Write one .zip file")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        form.addRow("Batch folder:", row)
        form.addRow("Reader:", self.reader)
        form.addRow("Study status:", self.status)
        form.addRow("Since:", since_row)
        form.addRow(self.as_zip)
        form.addRow(self.progress)
        form.addRow(self.message)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Export")
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getSaveFileName(self, "Batch folder", self.out.text())[0]
        if chosen:
            self.out.setText(chosen)

    def filters(self) -> ExportFilters:
        since = None
        if self.use_since.isChecked():
            since = utc_timestamp(self.since.dateTime().toPyDateTime().astimezone())
        status = self.status.currentText()
        return ExportFilters(
            since=since, reader=self.reader.text().strip() or None, status=None if status == ANY else status
        )

    def start(self) -> None:
        text = self.out.text().strip()
        if not text:
            dialogs.warning(self, "Export", "Choose the folder the batch is written to.")
            return
        self.thread_ = ExportThread(
            self.store_location, Path(text).expanduser(), self.filters(), self.as_zip.isChecked()
        )
        self.thread_.done.connect(self._done)
        self.thread_.failed.connect(self._failed)
        self.progress.setVisible(True)
        self.buttons.setEnabled(False)
        self.message.setText("Exporting...")
        self.thread_.start()

    def _finish(self) -> None:
        self.progress.setVisible(False)
        self.buttons.setEnabled(True)
        if self.thread_ is not None:
            self.thread_.wait()

    def _done(self, result: object) -> None:
        self._finish()
        counts = getattr(result, "counts", {})
        self.message.setText(
            f"Written {getattr(result, 'path', '')}: {counts.get('studies', 0)} studies, "
            f"{counts.get('images', 0)} images, findings {counts.get('findings', {})}"
        )
        self.exported.emit(result)

    def _failed(self, text: str) -> None:
        self._finish()
        self.message.setText("Export failed.")
        dialogs.error(self, "Export failed", text)

    def reject(self) -> None:
        if self.thread_ is not None and self.thread_.isRunning():
            return  # the batch is staged and moved into place at the end; let it finish
        super().reject()
