"""The reader's main window: puts the views, the findings panel and the worklist together and wires them.

It owns no review logic. Study finding, loading and analysis are requests to
``AnalysisWorker`` in its own thread (answers carry the request's token, so an
answer to a request the reader has moved on from is dropped); review gestures go
to ``ReviewController`` and from there to ``ReviewSession``; after each one the
window redraws from the session. Keys are bound from ``shortcuts.SHORTCUTS``.
A study retrieved from a PACS (``PacsDialog``) is opened like a local folder and
added to the worklist, so the studies retrieved in a session stay one keypress
apart.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path

from PyQt5.QtCore import QEvent, QObject, Qt, QThread, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QKeyEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QAction,
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from mommi.feedback.store import ReviewStore
from mommi.runtime.zoo import ZooError

from mommi_reader import dialogs
from mommi_reader.export_dialog import ExportDialog
from mommi_reader.findings_panel import FindingsPanel
from mommi_reader.hanging import FourViewWidget
from mommi_reader.help_dialog import HelpDialog
from mommi_reader.legend import LegendWidget
from mommi_reader.pacs_dialog import PacsDialog
from mommi_reader.results_store import zoo_fingerprint
from mommi_reader.review_controller import ReviewController
from mommi_reader.settings import ReaderSettings
from mommi_reader.settings_dialog import SettingsDialog
from mommi_reader.shortcuts import SHORTCUTS
from mommi_reader.study_data import AnalysisOutcome, LoadedStudy, ScanResult
from mommi_reader.worker import AnalysisWorker, WorkerOptions
from mommi_reader.worklist import WorklistWidget

log = logging.getLogger(__name__)
TITLE = "MommiSlicer Reader"
CHECKABLE = ("toggle_heat", "toggle_findings", "toggle_nipple", "toggle_boxes", "edit", "add_mass")
LAYER_OF = {"toggle_heat": "heat", "toggle_findings": "findings", "toggle_nipple": "nipple", "toggle_boxes": "boxes"}
TEXT_INPUTS = (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)
MAX_PROBLEMS_SHOWN = 8


@dataclass
class ReaderOptions:
    """The command line: what to open and what overrides the remembered settings for this run."""

    path: Path | None = None
    reader: str | None = None
    db: str | None = None  # a SQLite file or a postgresql:// URL (Path would mangle the URL)
    zoo: Path | None = None
    device: str | None = None
    results: Path | None = None


class MainWindow(QMainWindow):
    request_scan = pyqtSignal(int, object)
    request_open = pyqtSignal(int, object, bool)
    request_analyse = pyqtSignal(int, str, bool)
    request_configure = pyqtSignal(object)

    def __init__(self, store: ReviewStore, settings: ReaderSettings, options: ReaderOptions | None = None) -> None:
        super().__init__()
        self.setObjectName("readerMainWindow")
        self.setWindowTitle(f"{TITLE} (research use only)")
        self.store, self.settings = store, settings
        self.options = options or ReaderOptions()
        self.reader = (self.options.reader or "").strip() or settings.reader_name()
        self.role = str(settings.get("role"))
        self._token = 0
        self.loaded: LoadedStudy | None = None
        self.outcome: AnalysisOutcome | None = None
        self.analysing = False
        self.help_dialog: HelpDialog | None = None
        self.export_dialog: ExportDialog | None = None
        self.pacs_dialog: PacsDialog | None = None
        self._scan_origin = ""  # the PACS server of the folder being scanned ("" for a local one)

        self.four_view = FourViewWidget(self)
        self.setCentralWidget(self.four_view)
        self.controller = ReviewController(self)
        self.panel = FindingsPanel(self)
        self.legend = LegendWidget(self)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.panel.widget)
        side_layout.addWidget(self.legend)
        side.setMinimumWidth(460)  # the findings table's five columns without scrolling
        scroller = QScrollArea(self)  # small screens (768 px high) scroll the panel, not the images
        scroller.setWidget(side)
        scroller.setWidgetResizable(True)
        scroller.setFrameShape(QScrollArea.NoFrame)
        scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroller.setMinimumWidth(side.minimumWidth() + scroller.verticalScrollBar().sizeHint().width())
        self.panel_dock = self._dock("findingsDock", "Findings", scroller, Qt.RightDockWidgetArea)
        self.worklist = WorklistWidget(self)
        self.worklist_dock = self._dock("worklistDock", "Worklist", self.worklist, Qt.LeftDockWidgetArea)
        self.worklist_dock.hide()
        for button in self.panel.widget.findChildren(QPushButton) + self.worklist.findChildren(QPushButton):
            button.setFocusPolicy(Qt.NoFocus)  # Space / Return must not press a button the mouse used last

        self.actions_by_name = self._make_actions()
        self._make_toolbar()
        self._make_status_bar()
        self._connect()
        self._start_worker()
        self._restore_settings()
        self._show_review()
        QApplication.instance().installEventFilter(self)

    # ------------------------------------------------------------------ building
    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _make_actions(self) -> dict[str, QAction]:
        actions: dict[str, QAction] = {}
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in dict.fromkeys(s.group for s in SHORTCUTS)}
        for shortcut in SHORTCUTS:
            action = QAction(shortcut.text, self)
            action.setObjectName(f"action_{shortcut.action}")
            action.setShortcuts([QKeySequence(k) for k in shortcut.keys])
            action.setShortcutContext(Qt.WindowShortcut)
            action.setCheckable(shortcut.action in CHECKABLE)
            menus[shortcut.group].addAction(action)
            self.addAction(action)
            actions[shortcut.action] = action
        return actions

    def _make_toolbar(self) -> None:
        bar = QToolBar("Tools", self)
        bar.setObjectName("mainToolbar")
        self.addToolBar(bar)
        labels = {
            "open_folder": "Open folder",
            "analyse": "Analyse",
            "fit": "Fit",
            "reset_window": "Reset W/L",
            "toggle_heat": "Heat map",
            "toggle_findings": "Findings",
            "toggle_nipple": "Nipple",
            "toggle_boxes": "Boxes",
            "edit": "Edit box",
            "add_mass": "Add mass",
            "help": "Help",
        }
        for name in ("open_folder", "analyse", None, "fit", "reset_window", None, "toggle_heat"):
            if name is None:
                bar.addSeparator()
                continue
            self.actions_by_name[name].setIconText(labels[name])
            bar.addAction(self.actions_by_name[name])
        self.opacity = QSlider(Qt.Horizontal, self)
        self.opacity.setObjectName("heatOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setFixedWidth(110)
        self.opacity.setFocusPolicy(Qt.NoFocus)
        self.opacity.setToolTip("Heat map opacity")
        bar.addWidget(QLabel(" opacity "))
        bar.addWidget(self.opacity)
        for name in ("toggle_findings", "toggle_nipple", "toggle_boxes", None, "edit", "add_mass", None, "help"):
            if name is None:
                bar.addSeparator()
                continue
            self.actions_by_name[name].setIconText(labels[name])
            bar.addAction(self.actions_by_name[name])

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar(self)
        self.progress.setObjectName("analysisProgress")
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(180)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelAnalysis")
        self.cancel_button.setFocusPolicy(Qt.NoFocus)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_analysis)
        self.zoo_label = QLabel("")
        self._show_zoo()
        self.device_label = QLabel(f"device {self._device()} (models load at the first analysis)")
        self.time_label = QLabel("")
        self.wl_label = QLabel("")
        self.reader_label = QLabel("")
        for widget in (
            self.progress,
            self.cancel_button,
            self.time_label,
            self.zoo_label,
            self.device_label,
            self.wl_label,
            self.reader_label,
        ):
            bar.addPermanentWidget(widget)
        self._show_reader()

    def _connect(self) -> None:
        a = self.actions_by_name
        c = self.controller
        a["accept"].triggered.connect(c.accept)
        a["reject"].triggered.connect(c.reject)
        a["next_finding"].triggered.connect(c.next)
        a["previous_finding"].triggered.connect(c.previous)
        a["undo"].triggered.connect(c.undo)
        a["redo"].triggered.connect(c.redo)
        a["mark_done"].triggered.connect(lambda: c.set_status("done"))
        a["edit"].toggled.connect(self._set_edit)
        a["add_mass"].toggled.connect(self._set_add)
        a["focus_birads"].triggered.connect(lambda: self.panel.widget.biradsCombo.setFocus(Qt.ShortcutFocusReason))
        a["focus_comment"].triggered.connect(lambda: self.panel.widget.commentEdit.setFocus(Qt.ShortcutFocusReason))
        a["escape"].triggered.connect(self._escape)
        a["next_study"].triggered.connect(self.worklist.request_next)
        a["previous_study"].triggered.connect(self.worklist.request_previous)
        a["fit"].triggered.connect(self.four_view.fit)
        a["reset_window"].triggered.connect(self.four_view.reset_window_level)
        for name, layer in LAYER_OF.items():
            a[name].toggled.connect(lambda on, layer=layer: self.four_view.set_layers(**{layer: on}))
        a["analyse"].triggered.connect(lambda: self.analyse(force=False))
        a["reanalyse"].triggered.connect(lambda: self.analyse(force=True))
        a["open_study"].triggered.connect(self._choose_files)
        a["open_folder"].triggered.connect(self._choose_folder)
        a["open_pacs"].triggered.connect(self.show_pacs)
        a["export"].triggered.connect(self.show_export)
        a["settings"].triggered.connect(self.show_settings)
        a["help"].triggered.connect(self.show_help)
        a["quit"].triggered.connect(self.close)
        self.opacity.valueChanged.connect(lambda v: self.four_view.set_heat_opacity(v / 100.0))
        self.four_view.finding_clicked.connect(c.select)
        self.four_view.box_edited.connect(c.edit_geometry)
        self.four_view.mass_drawn.connect(self._mass_drawn)
        self.four_view.window_level_changed.connect(
            lambda width, level: self.wl_label.setText(f"W {width:.2f} L {level:.2f}")
        )
        p = self.panel
        p.selected.connect(c.select)
        p.accept_clicked.connect(c.accept)
        p.reject_clicked.connect(c.reject)
        p.next_clicked.connect(c.next)
        p.previous_clicked.connect(c.previous)
        p.undo_clicked.connect(c.undo)
        p.redo_clicked.connect(c.redo)
        p.birads_chosen.connect(c.set_birads)
        p.biopsy_chosen.connect(c.set_biopsy)
        p.status_chosen.connect(c.set_status)
        p.comment_entered.connect(self._comment)
        c.changed.connect(self._show_review)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 4000))
        self.worklist.open_requested.connect(self.open_entry)

    def _start_worker(self) -> None:
        self.worker = AnalysisWorker(self._worker_options())
        self.worker_thread = QThread(self)
        self.worker_thread.setObjectName("mommi-analysis")
        self.worker.moveToThread(self.worker_thread)
        self.request_scan.connect(self.worker.scan)
        self.request_open.connect(self.worker.open_study)
        self.request_analyse.connect(self.worker.analyse)
        self.request_configure.connect(self.worker.configure)
        self.worker.scanned.connect(self._on_scanned)
        self.worker.study_loaded.connect(self._on_study_loaded)
        self.worker.progress.connect(self._on_progress)
        self.worker.analysed.connect(self._on_analysed)
        self.worker.cancelled.connect(self._on_cancelled)
        self.worker.failed.connect(self._on_failed)
        self.worker.engine_ready.connect(self._on_engine_ready)
        self.worker_thread.start()

    def _device(self) -> str:
        return self.options.device or str(self.settings.get("device"))

    def _zoo(self) -> Path | None:
        """--zoo for this run, else the Settings' model zoo, else None (MOMMI_MODEL_ZOO or the checkout's)."""
        chosen = str(self.settings.get("zoo")).strip()
        return self.options.zoo or (Path(chosen) if chosen else None)

    def _show_zoo(self) -> None:
        """The zoo's version in the status bar; a zoo that cannot be read is named by the analysis instead
        (a window must open whatever the remembered zoo has become)."""
        try:
            version, _ = zoo_fingerprint(self._zoo())
        except ZooError:
            version = "unreadable"
        self.zoo_label.setText(f"zoo {version}")

    def _worker_options(self) -> WorkerOptions:
        s = self.settings
        location, folder = str(s.get("results_location")), str(s.get("results_folder"))
        if self.options.results is not None:
            location, folder = "folder", str(self.options.results)
        return WorkerOptions(
            zoo=self._zoo(),
            device=self._device(),
            results_location=location,
            results_folder=folder,
            write_dicom=bool(s.get("write_dicom")),
            write_pictures=bool(s.get("write_pictures")),
        )

    # ------------------------------------------------------------------ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geometry, state = s.window_bytes("geometry"), s.window_bytes("window_state")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1500, 950)
        if state is not None:
            self.restoreState(state)
        self.worklist_dock.hide()  # shown again when a folder of several studies is opened
        self.opacity.setValue(int(s.get("heat_opacity")))
        self.four_view.set_heat_opacity(self.opacity.value() / 100.0)
        for name, layer in LAYER_OF.items():
            on = bool(s.get(f"show_{layer}"))
            self.actions_by_name[name].setChecked(on)
            self.four_view.set_layers(**{layer: on})
        self.wl_label.setText(f"W {self.four_view.window:.2f} L {self.four_view.level:.2f}")

    def save_settings(self) -> None:
        s = self.settings
        s.set_window_bytes("geometry", self.saveGeometry())
        s.set_window_bytes("window_state", self.saveState())
        s.set("heat_opacity", self.opacity.value())
        for name, layer in LAYER_OF.items():
            s.set(f"show_{layer}", self.actions_by_name[name].isChecked())
        s.sync()

    # ------------------------------------------------------------------ opening studies
    def _next_token(self) -> int:
        self.worker.cancel_upto(self._token)  # whatever ran for the previous request stops at its next stage
        self._token += 1
        return self._token

    def open_path(self, path: str | Path, origin: str = "") -> None:
        """Open a study folder, a study's files' folder, or a folder of studies (worklist).

        ``origin``: the PACS server the folder was retrieved from. Its study is added to the worklist
        instead of replacing it, labelled with the server, and the cache folder is not remembered as the
        place to browse from next time."""
        token = self._next_token()
        self._scan_origin = origin
        self.statusBar().showMessage(f"Looking for studies in {path}...")
        if not origin:
            self.settings.set("last_folder", str(Path(path).parent if Path(path).is_file() else path))
        self.request_scan.emit(token, Path(path))

    def open_entry(self, row: int) -> None:
        """Open the worklist's study ``row``: display it, then analyse (or read back its saved result)."""
        if not 0 <= row < len(self.worklist.entries):
            return
        entry = self.worklist.entries[row]
        token = self._next_token()
        self._set_running(False)
        self.worklist.set_current(row)
        self.actions_by_name["add_mass"].setChecked(False)
        self.controller.close()
        self.loaded = self.outcome = None
        self.four_view.clear("loading...")
        self.time_label.setText("")
        self.request_open.emit(token, entry.paths, bool(self.settings.get("auto_analyse")))

    def analyse(self, force: bool = False) -> None:
        if self.loaded is None:
            self.statusBar().showMessage("Open a study first", 4000)
            return
        if self.analysing:
            self.statusBar().showMessage("The analysis is already running", 4000)
            return
        self.controller.close()
        self.outcome = None
        self.four_view.clear_result()
        self.request_analyse.emit(self._next_token(), self.loaded.study_uid, force)

    def cancel_analysis(self) -> None:
        if self.analysing:
            self.worker.cancel_upto(self._token)
            self.statusBar().showMessage("Cancelling the analysis...")

    # ------------------------------------------------------------------ worker answers
    def _on_scanned(self, token: int, scan: ScanResult) -> None:
        if token != self._token:
            return
        self.statusBar().clearMessage()
        problems = "\n".join(scan.problems[:MAX_PROBLEMS_SHOWN])
        if len(scan.problems) > MAX_PROBLEMS_SHOWN:
            problems += f"\n... and {len(scan.problems) - MAX_PROBLEMS_SHOWN} more"
        if not scan.entries:
            dialogs.error(
                self,
                "No study found",
                "No usable mammography study was found." + (f"\n\n{problems}" if problems else ""),
            )
            return
        if problems:
            dialogs.warning(self, "Some files were not used", problems)
        entries, origins, first = scan.entries, [self._scan_origin] * len(scan.entries), 0
        if self._scan_origin:  # retrieved from a PACS: added to the studies listed (once), and opened
            listed = [entry.study_uid for entry in self.worklist.entries]
            new = [entry for entry in scan.entries if entry.study_uid not in listed]
            uid = scan.entries[0].study_uid
            first = listed.index(uid) if uid in listed else len(listed)
            entries = self.worklist.entries + new
            origins = self.worklist.origins + [self._scan_origin] * len(new)
        self.worklist.set_entries(entries, self.store, origins)
        self.worklist_dock.setVisible(len(entries) > 1)
        self.open_entry(first)

    def _on_study_loaded(self, token: int, loaded: LoadedStudy) -> None:
        if token != self._token:
            return
        self.loaded = loaded
        self.four_view.set_study(loaded)
        self.setWindowTitle(f"{TITLE}: {loaded.patient_key} {loaded.study_date} (research use only)")
        self._show_review()
        if loaded.warnings:
            self.statusBar().showMessage("; ".join(loaded.warnings), 8000)

    def _on_progress(self, token: int, stage: str, fraction: float) -> None:
        if token != self._token:
            return
        self._set_running(True)
        self.progress.setValue(int(round(fraction * 100)))
        self.progress.setFormat(f"{stage} %p%")

    def _on_analysed(self, token: int, outcome: AnalysisOutcome) -> None:
        if token != self._token:
            return
        self._set_running(False)
        self.outcome = outcome
        self.four_view.set_result(outcome.result, outcome.heat)
        self.zoo_label.setText(f"zoo {outcome.result.zoo_version}")
        self.device_label.setText(f"{outcome.result.provider} (asked: {outcome.result.device_requested})")
        how = "saved result, analysed in" if outcome.from_saved else "analysis"
        self.time_label.setText(f"{how} {outcome.seconds:.2f} s")
        for warning in outcome.warnings:
            log.warning(warning)
        self.controller.open(self.store, outcome.folder, self.reader, self.role)

    def _on_cancelled(self, token: int) -> None:
        if token != self._token:
            return
        self._set_running(False)
        self.statusBar().showMessage("Analysis cancelled: press F5 to analyse", 8000)
        self._show_review()

    def _on_failed(self, token: int, title: str, text: str) -> None:
        if token != self._token:
            return
        self._set_running(False)
        self.statusBar().showMessage(title, 8000)
        self._show_review()
        dialogs.error(self, title, text)

    def _on_engine_ready(self, zoo_version: str, provider: str) -> None:
        self.zoo_label.setText(f"zoo {zoo_version}")
        self.device_label.setText(f"{provider} (asked: {self._device()})")

    def _set_running(self, running: bool) -> None:
        self.analysing = running
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        if not running:
            self.progress.setValue(0)

    # ------------------------------------------------------------------ review display
    def _show_review(self) -> None:
        """Redraw the panel, the findings and the worklist status from the session (the store's state)."""
        session = self.controller.session
        edit = self.actions_by_name["edit"].isChecked()
        if session is None:
            self.panel.show(None, self._study_text())
            self.panel.widget.studyLabel.setToolTip(self.loaded.study_uid if self.loaded else "")
            self.four_view.set_findings([], None, False)
        else:
            self.panel.show(session, self._study_text())
            self.four_view.set_findings(session.findings, session.selected_id, edit)
            self.worklist.set_status(session.study_uid, session.status)
        self.actions_by_name["undo"].setEnabled(bool(session and session.can_undo))
        self.actions_by_name["redo"].setEnabled(bool(session and session.can_redo))

    def _study_text(self) -> str:
        if self.loaded is None:
            return (
                "No study open. Open a study (Ctrl+O), a folder of studies (Ctrl+Shift+O) "
                "or a study from a PACS (Ctrl+Shift+P)."
            )
        lines = [
            f"<b>{html.escape(self.loaded.patient_key)}</b> {html.escape(self.loaded.study_date)}",
            f"study \u2026{html.escape(self.loaded.study_uid[-16:])}",
        ]
        if self.outcome is None:
            lines.append("analysing..." if self.analysing else "not analysed (F5 analyses)")
        else:
            lines += [html.escape(w) for w in self.outcome.result.warnings]
        return "<br>".join(lines)

    def _show_reader(self) -> None:
        self.reader_label.setText(f"reader {self.reader} ({self.role})")

    # ------------------------------------------------------------------ gestures
    def _set_edit(self, on: bool) -> None:
        if on:
            self.actions_by_name["add_mass"].setChecked(False)
        self._show_review()

    def _set_add(self, on: bool) -> None:
        if on:
            self.actions_by_name["edit"].setChecked(False)
        self.four_view.set_mode("add" if on else "review")

    def _mass_drawn(self, view: str, box: object) -> None:
        self.actions_by_name["add_mass"].setChecked(False)  # one mass per M: the next click reviews again
        self.controller.add_mass(view, box)

    def _comment(self, text: str) -> None:
        if self.controller.comment(text):
            self.panel.clear_comment()

    def _escape(self) -> None:
        focus = QApplication.focusWidget()
        if isinstance(focus, TEXT_INPUTS) or focus is self.panel.widget.biradsCombo:
            self.four_view.setFocus()
        elif self.actions_by_name["add_mass"].isChecked() or self.actions_by_name["edit"].isChecked():
            self.actions_by_name["add_mass"].setChecked(False)
            self.actions_by_name["edit"].setChecked(False)
        else:
            self.cancel_analysis()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Space held down turns a left drag into a pan (unless the reader is typing)."""
        if (
            event.type() in (QEvent.KeyPress, QEvent.KeyRelease)
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key_Space
            and not event.isAutoRepeat()
        ):
            if not isinstance(QApplication.focusWidget(), TEXT_INPUTS + (QAbstractButton,)):
                self.four_view.set_pan_key(event.type() == QEvent.KeyPress)
        return False

    # ------------------------------------------------------------------ dialogs
    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open a study",
            str(self.settings.get("last_folder")),
            "Mammograms (*.dcm *.DCM *.png *.pgm);;All files (*)",
        )
        if files:
            self.open_path(Path(files[0]).parent if len(files) > 1 else files[0])

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a study or a folder of studies", str(self.settings.get("last_folder"))
        )
        if folder:
            self.open_path(folder)

    def show_help(self) -> HelpDialog:
        if self.help_dialog is None:
            self.help_dialog = HelpDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()
        return self.help_dialog

    def show_export(self) -> ExportDialog:
        self.export_dialog = ExportDialog(self.store.location, str(self.settings.get("export_folder")), "", self)
        self.export_dialog.exported.connect(
            lambda result: self.settings.set("export_folder", str(Path(result.path).parent))
        )
        self.export_dialog.open()
        return self.export_dialog

    def show_pacs(self) -> PacsDialog:
        """The PACS dialog, one per window: it keeps its search results (the PACS worklist) between uses,
        and outlives any request it abandoned until the window closes."""
        if self.pacs_dialog is None:
            self.pacs_dialog = PacsDialog(self.settings, self)
            self.pacs_dialog.retrieved.connect(lambda folder, _url, server: self.open_path(folder, origin=server))
        self.pacs_dialog.show()
        self.pacs_dialog.raise_()
        self.pacs_dialog.activateWindow()
        return self.pacs_dialog

    def show_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self.store.display_location, self)
        dialog.accepted.connect(self._settings_changed)
        dialog.open()
        return dialog

    def _settings_changed(self) -> None:
        if not self.options.reader:
            self.reader = self.settings.reader_name()
        self.role = str(self.settings.get("role"))
        self._show_reader()
        self._show_zoo()
        self.request_configure.emit(self._worker_options())  # a new zoo or device: its own pipeline next time
        if self.controller.session is not None and self.outcome is not None:  # the reader's name is in every event
            self.controller.open(self.store, self.outcome.folder, self.reader, self.role)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        """Remember the layout and stop the worker; every review action is already in the store."""
        self.save_settings()
        QApplication.instance().removeEventFilter(self)
        self.worker.cancel_upto(self._token + 1_000_000)
        self.worker_thread.quit()
        if not self.worker_thread.wait(30_000):
            log.warning("the analysis thread did not stop in time")
        for dialog in (self.help_dialog, self.export_dialog):
            if dialog is not None:
                dialog.close()
        if self.pacs_dialog is not None:
            self.pacs_dialog.shutdown()
        super().closeEvent(event)
