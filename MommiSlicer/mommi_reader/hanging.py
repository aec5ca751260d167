"""The four views in mammography hanging order, with the links between them.

R-CC | L-CC over R-MLO | L-MLO: right breast on the left, chest walls meeting in
the middle, CC above MLO (``mommi.study.model.HANGING_ORDER``). Zoom and pan are
linked per row in canonical (chest wall left) coordinates, so the partner view
shows the mirror-image region of the other breast, which is what a reader
compares. Window/level is shared by all four views.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from PyQt5.QtCore import QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QPalette
from PyQt5.QtWidgets import QGridLayout, QWidget

from mommi.feedback.state import FindingState
from mommi.runtime.result import StudyResult
from mommi.study.model import HANGING_ORDER

from mommi_reader.canvas import ImageCanvas
from mommi_reader.imaging import DEFAULT_LEVEL, DEFAULT_WINDOW, MIN_WINDOW, window_lut
from mommi_reader.study_data import LoadedStudy

#: window/level change per screen pixel of a right-drag
WINDOW_PER_PIXEL = 0.004


class FourViewWidget(QWidget):
    finding_clicked = pyqtSignal(str)
    box_edited = pyqtSignal(str, object, object)
    mass_drawn = pyqtSignal(str, object)
    window_level_changed = pyqtSignal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(3)
        self.setAutoFillBackground(True)  # the gaps between views: dark, not the window's grey
        palette = self.palette()
        palette.setColor(QPalette.Window, QColor(60, 60, 60))
        self.setPalette(palette)
        self.canvases: dict[str, ImageCanvas] = {}
        for index, view in enumerate(HANGING_ORDER):
            canvas = ImageCanvas(view.value, self)
            layout.addWidget(canvas, index // 2, index % 2)
            canvas.finding_clicked.connect(self.finding_clicked)
            canvas.box_edited.connect(self.box_edited)
            canvas.mass_drawn.connect(self.mass_drawn)
            canvas.view_changed.connect(lambda c=canvas: self._sync_partner(c))
            canvas.window_dragged.connect(self._window_dragged)
            self.canvases[view.value] = canvas
        self.window, self.level = DEFAULT_WINDOW, DEFAULT_LEVEL
        self._lut_timer = QTimer(self)  # coalesces a burst of right-drag moves into one redraw
        self._lut_timer.setSingleShot(True)
        self._lut_timer.setInterval(15)
        self._lut_timer.timeout.connect(self._apply_lut)
        self._jobs: deque[Callable[[], object]] = deque()
        self._job_timer = QTimer(self)  # display work, one piece per event-loop turn: the loop never stalls
        self._job_timer.setSingleShot(True)
        self._job_timer.setInterval(0)
        self._job_timer.timeout.connect(self._run_job)

    @staticmethod
    def partner_of(view: str) -> str:
        """The other view of the same row (R-CC <-> L-CC, R-MLO <-> L-MLO)."""
        side, projection = view.split("-")
        return f"{'L' if side == 'R' else 'R'}-{projection}"

    # ------------------------------------------------------------------ content
    def clear(self, message: str = "") -> None:
        self._jobs.clear()
        for canvas in self.canvases.values():
            canvas.clear(message)

    def set_study(self, study: LoadedStudy) -> None:
        """Show the study's views, one view per event-loop turn (a clinical view takes ~25 ms)."""
        self._jobs.clear()
        default = (self.window, self.level) == (DEFAULT_WINDOW, DEFAULT_LEVEL)
        lut = window_lut(self.window, self.level)
        for view, canvas in self.canvases.items():
            if view in study.images:
                image = study.images[view]
                grey = image.default_grey if default else None
                self._later(lambda c=canvas, i=image, g=grey: c.set_image(i, lut, g))
            else:
                canvas.clear("not in this study")

    def set_result(self, result: StudyResult, heat: dict) -> None:
        """Heat maps, nipples and each view's reading branch (after the images, one view per turn)."""
        for view, canvas in self.canvases.items():
            self._later(lambda v=view, c=canvas: self._show_result(c, result.views.get(v), heat.get(v)))

    @staticmethod
    def _show_result(canvas: ImageCanvas, info: object, heat: object) -> None:
        canvas.set_heat(heat)  # type: ignore[arg-type]
        canvas.set_nipple(getattr(info, "nipple_px", None), getattr(info, "nipple_source", None))
        if info is not None and canvas.image is not None:
            canvas.title = f"{canvas.view_name}  ({getattr(info, 'branch', '')})"
            canvas.viewport().update()

    def clear_result(self) -> None:
        for canvas in self.canvases.values():
            self._later(lambda c=canvas: (c.set_heat(None), c.set_nipple(None)))
            canvas.set_findings([], None, False)

    def _later(self, job: Callable[[], object]) -> None:
        """Run ``job`` on a later turn of the event loop, after the jobs queued before it."""
        self._jobs.append(job)
        self._job_timer.start()

    def _run_job(self) -> None:
        if self._jobs:
            self._jobs.popleft()()
        if self._jobs:
            self._job_timer.start()

    @property
    def busy(self) -> bool:
        """Display work is still queued (tests and screenshots wait for it)."""
        return bool(self._jobs)

    def set_findings(self, findings: Sequence[FindingState], selected: str | None, edit_handles: bool) -> None:
        for canvas in self.canvases.values():
            canvas.set_findings(findings, selected, edit_handles)

    def set_layers(self, **layers: bool) -> None:
        for canvas in self.canvases.values():
            canvas.set_layers(**layers)

    def set_heat_opacity(self, opacity: float) -> None:
        for canvas in self.canvases.values():
            canvas.set_heat_opacity(opacity)

    def set_mode(self, mode: str) -> None:
        for canvas in self.canvases.values():
            canvas.set_mode(mode)

    def set_pan_key(self, down: bool) -> None:
        for canvas in self.canvases.values():
            canvas.pan_key_down = down

    def fit(self) -> None:
        for canvas in self.canvases.values():
            canvas.fit()

    # ------------------------------------------------------------------ links
    def _sync_partner(self, source: ImageCanvas) -> None:
        state = source.viewport_state()
        partner = self.canvases[self.partner_of(source.view_name)]
        if state is not None and partner.image is not None:
            partner.apply_viewport_state(state)

    def _window_dragged(self, dx: float, dy: float) -> None:
        self.set_window_level(self.window + dx * WINDOW_PER_PIXEL, self.level - dy * WINDOW_PER_PIXEL)

    def set_window_level(self, window: float, level: float) -> None:
        self.window = min(max(window, MIN_WINDOW), 2.0)
        self.level = min(max(level, -0.5), 1.5)
        self._lut_timer.start()
        self.window_level_changed.emit(self.window, self.level)

    def reset_window_level(self) -> None:
        self.set_window_level(DEFAULT_WINDOW, DEFAULT_LEVEL)

    def _apply_lut(self) -> None:
        lut = window_lut(self.window, self.level)
        for canvas in self.canvases.values():
            canvas.set_lut(lut)
