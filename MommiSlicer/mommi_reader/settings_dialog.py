"""The Settings dialog: who reads, where results go, what the analysis runs on.

It edits ``ReaderSettings`` only when the reader presses OK; the main window
then passes the new analysis options to the worker (a new device or model zoo
takes effect at the next analysis, with a pipeline of its own). A model zoo is
checked by the engine's zoo check before it is kept: one that is not there or
not a zoo is said in the dialog, which stays open. The review database location
is shown, not edited: it is set for the whole site (``--db``, ``MOMMI_REVIEW_DB``
or the engine's settings file) so that all tools agree on it.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from mommi.runtime.zoo import ZooError, chosen_manifest

from mommi_reader.results_store import LOCATIONS, cache_root
from mommi_reader.settings import ROLES, ReaderSettings


class SettingsDialog(QDialog):
    def __init__(self, settings: ReaderSettings, store_location: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reader settings")
        self.settings = settings
        form = QFormLayout(self)
        self.reader = QLineEdit(settings.reader_name())
        self.role = QComboBox()
        self.role.addItems(ROLES)
        self.role.setCurrentText(str(settings.get("role")))
        self.device = QComboBox()
        self.device.addItems(["auto", "cuda", "cpu"])
        self.device.setCurrentText(str(settings.get("device")))
        self.zoo = QLineEdit(str(settings.get("zoo")))
        self.zoo.setPlaceholderText("MOMMI_MODEL_ZOO, else the checkout's model_zoo/")
        self.zoo.setToolTip("The model zoo folder (the one holding manifest.json); --zoo overrides it for one run")
        browse_zoo = QPushButton("Browse...")
        browse_zoo.clicked.connect(self._browse_zoo)
        zoo_row = QHBoxLayout()
        zoo_row.addWidget(self.zoo)
        zoo_row.addWidget(browse_zoo)
        self.zoo_problem = QLabel("")
        self.zoo_problem.setWordWrap(True)
        self.zoo_problem.setVisible(False)
        self.location = QComboBox()
        self.location.addItems(LOCATIONS)
        self.location.setCurrentText(str(settings.get("results_location")))
        self.folder = QLineEdit(str(settings.get("results_folder")))
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        self.write_dicom = QCheckBox("Also write DICOM Segmentation and SR files")
        self.write_dicom.setChecked(bool(settings.get("write_dicom")))
        self.write_pictures = QCheckBox("Also write overlay pictures (PNG)")
        self.write_pictures.setChecked(bool(settings.get("write_pictures")))
        self.auto_analyse = QCheckBox("Analyse a study as soon as it is opened")
        self.auto_analyse.setChecked(bool(settings.get("auto_analyse")))
        form.addRow("Reader name:", self.reader)
        form.addRow("Role:", self.role)
        form.addRow("Device:", self.device)
        form.addRow("Model zoo:", zoo_row)
        form.addRow(self.zoo_problem)
        form.addRow("Results location:", self.location)
        form.addRow("Results folder:", row)
        form.addRow(
            QLabel(
                f"cache: {cache_root()}\nbeside: <study folder>-mommi next to the study\n"
                "folder: the results folder above"
            )
        )
        form.addRow(self.write_dicom)
        form.addRow(self.write_pictures)
        form.addRow(self.auto_analyse)
        form.addRow("Review database:", QLabel(store_location))
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Results folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)
            self.location.setCurrentText("folder")

    def _browse_zoo(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Model zoo folder", self.zoo.text())
        if chosen:
            self.zoo.setText(chosen)

    def _zoo_problem(self) -> str | None:
        """Why the zoo typed cannot be used (None: it is empty, i.e. the default zoo, or a readable zoo)."""
        zoo = self.zoo.text().strip()
        if not zoo:
            return None
        try:
            chosen_manifest(Path(zoo))
        except ZooError as exc:
            return str(exc)
        return None

    def _save(self) -> None:
        name = self.reader.text().strip()
        if not name:
            self.reader.setFocus()
            return  # a review needs a reader's name
        problem = self._zoo_problem()
        self.zoo_problem.setText(f"Model zoo not changed: {problem}" if problem else "")
        self.zoo_problem.setVisible(problem is not None)
        if problem:
            self.zoo.setFocus()
            return
        s = self.settings
        s.set("reader", name)
        s.set("role", self.role.currentText())
        s.set("device", self.device.currentText())
        s.set("zoo", self.zoo.text().strip())
        s.set("results_location", self.location.currentText())
        s.set("results_folder", self.folder.text().strip())
        s.set("write_dicom", self.write_dicom.isChecked())
        s.set("write_pictures", self.write_pictures.isChecked())
        s.set("auto_analyse", self.auto_analyse.isChecked())
        s.sync()
        self.accept()
