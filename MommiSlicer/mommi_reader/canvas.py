"""ImageCanvas: one mammogram in a QGraphicsView, with its overlays and the mouse gestures on it.

The scene is in ORIGINAL pixel coordinates (pixel centres on integers, as in the
engine), so every box the reader draws or drags is already in the coordinates
``ReviewSession`` stores; the hanging-protocol flips are part of the view
transform only. The canvas holds no review state: it draws the findings it is
given and reports gestures as signals (a click on a finding, a dragged box, a
drawn mass, zoom/pan, window/level), which the main window forwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PyQt5.QtCore import QPoint, QPointF, QRectF, Qt, pyqtSignal
from PyQt5.QtGui import QColor, QImage, QMouseEvent, QPainter, QPixmap, QResizeEvent, QTransform, QWheelEvent
from PyQt5.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView, QWidget

from mommi.feedback.state import FindingState

from mommi_reader.imaging import grey_image
from mommi_reader.overlay_items import (
    CORNERS,
    Z_HEAT,
    Z_OUTLINE,
    FindingGraphic,
    NippleMarker,
    cosmetic_pen,
)
from mommi_reader.study_data import ViewImage

HANDLE_HIT = 9  # screen pixels around a handle that grab it
CLICK_TOLERANCE = 4  # screen pixels around a box that still select it
MIN_BOX = 2.0  # original pixels: smaller boxes are not sent (the session would refuse them)
ZOOM_STEP = 1.15
FIT_MARGIN = 0.98


@dataclass
class _Drag:
    kind: str  # pan | window | handle | draw
    last: QPoint
    start: QPoint | None = None  # where the button went down (screen)
    start_scene: QPointF | None = None
    corner: int = -1


class ImageCanvas(QGraphicsView):
    finding_clicked = pyqtSignal(str)
    box_edited = pyqtSignal(str, object, object)  # finding id, [x0, y0, x1, y1], contour
    mass_drawn = pyqtSignal(str, object)  # view, [x0, y0, x1, y1]
    view_changed = pyqtSignal()  # the user zoomed or panned
    window_dragged = pyqtSignal(float, float)  # screen pixels right, down

    def __init__(self, view: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view_name = view
        self.setObjectName(f"canvas-{view}")
        self.setScene(QGraphicsScene(self))
        # chest walls meet in the middle: R views hug the right edge of their cell, L views the left
        side = Qt.AlignRight if view.startswith("R") else Qt.AlignLeft
        self.setAlignment(side | Qt.AlignVCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setBackgroundBrush(QColor(0, 0, 0))
        self.setFrameShape(QGraphicsView.NoFrame)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setRenderHint(QPainter.SmoothPixmapTransform, True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.ClickFocus)
        self.image: ViewImage | None = None
        self.pan_key_down = False  # Space held (set by the main window)
        self.mode = "review"  # review | add
        self.edit_handles = False
        self.layers = {"heat": True, "findings": True, "nipple": True, "boxes": False}
        self.title = view
        self._heat_opacity = 0.4
        self._lut: np.ndarray | None = None
        self._pixmap = QGraphicsPixmapItem()
        self._heat = QGraphicsPixmapItem()
        self._heat.setZValue(Z_HEAT)
        self._heat.setOpacity(0.4)
        self._nipple: NippleMarker | None = None
        self._graphics: dict[str, FindingGraphic] = {}
        self._findings: list[FindingState] = []
        self._selected: str | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._drag: _Drag | None = None
        self._fitted = True
        self.clear()

    # ------------------------------------------------------------------ content
    def clear(self, message: str = "") -> None:
        """No image: an empty black view saying why (``message``)."""
        scene = self.scene()
        for graphic in self._graphics.values():
            graphic.remove(scene)
        self._graphics, self._findings, self._selected = {}, [], None
        self._drop_rubber()
        for item in list(scene.items()):
            scene.removeItem(item)
        self.image, self._nipple, self._drag = None, None, None
        self.title = f"{self.view_name}  {message}".strip()
        self.setSceneRect(QRectF(0, 0, 1, 1))
        self.resetTransform()
        self.viewport().update()

    def set_image(self, image: ViewImage, lut: np.ndarray, grey: QImage | None = None) -> None:
        """Show a view (``grey``: its picture at ``lut`` already made off the GUI thread). Findings given
        before the image arrived are drawn now."""
        findings, selected = self._findings, self._selected
        self.clear()
        self._findings, self._selected = findings, selected
        self.image, self._lut = image, lut
        self.title = image.view
        self._pixmap = QGraphicsPixmapItem(
            QPixmap.fromImage(grey if grey is not None else grey_image(image.quantised, lut))
        )
        self._pixmap.setOffset(-0.5, -0.5)  # pixel centres on integers, like the engine's coordinates
        self._pixmap.setTransformationMode(Qt.SmoothTransformation)
        self._heat = QGraphicsPixmapItem()
        self._heat.setOffset(-0.5, -0.5)
        self._heat.setZValue(Z_HEAT)
        self._heat.setOpacity(self._heat_opacity)
        self._heat.setVisible(False)
        self.scene().addItem(self._pixmap)
        self.scene().addItem(self._heat)
        self.setSceneRect(QRectF(-0.5, -0.5, image.cols, image.rows))
        self.fit()
        self._redraw()

    def set_lut(self, lut: np.ndarray) -> None:
        """New window/level: redraw the grey image from its quantised levels."""
        self._lut = lut
        if self.image is not None:
            self._pixmap.setPixmap(QPixmap.fromImage(grey_image(self.image.quantised, lut)))

    def set_heat(self, heat: QImage | None) -> None:
        """The heat map picture (RGBA, the image's size; made off the GUI thread), or None to remove it."""
        if self.image is None:
            return
        if heat is None or heat.isNull() or (heat.height(), heat.width()) != (self.image.rows, self.image.cols):
            self._heat.setPixmap(QPixmap())
            self._heat.setVisible(False)
            return
        self._heat.setPixmap(QPixmap.fromImage(heat))
        self._heat.setVisible(self.layers["heat"])

    def set_heat_opacity(self, opacity: float) -> None:
        self._heat_opacity = float(opacity)
        self._heat.setOpacity(self._heat_opacity)

    @property
    def nipple_marker(self) -> NippleMarker | None:
        return self._nipple

    def set_nipple(self, xy: Sequence[float] | None, source: str | None = None) -> None:
        if self._nipple is not None:
            self.scene().removeItem(self._nipple)
            self._nipple = None
        if xy is not None and self.image is not None:
            self._nipple = NippleMarker(float(xy[0]), float(xy[1]), source)
            self._nipple.setVisible(self.layers["nipple"])
            self.scene().addItem(self._nipple)

    def set_layers(self, **layers: bool) -> None:
        """Toggle heat / findings / nipple, or draw boxes instead of outlines."""
        self.layers.update(layers)
        self._heat.setVisible(self.layers["heat"] and not self._heat.pixmap().isNull())
        if self._nipple is not None:
            self._nipple.setVisible(self.layers["nipple"])
        self._redraw()

    def set_findings(self, findings: Sequence[FindingState], selected: str | None, edit_handles: bool) -> None:
        """Draw this view's findings (the session's current state) and the selection."""
        self._findings = [f for f in findings if f.view == self.view_name]
        self._selected, self.edit_handles = selected, edit_handles
        self._redraw()

    def _redraw(self) -> None:
        scene = self.scene()
        for graphic in self._graphics.values():
            graphic.remove(scene)
        self._graphics = {}
        if self.image is None or not self.layers["findings"]:
            return
        # the label sits on the box's top corner on the side away from the chest wall (screen coordinates)
        grow_left = self.view_name.startswith("R")
        screen_left_x = 2 if self.image.display_flip_h else 0
        corner = (2 - screen_left_x if grow_left else screen_left_x, 3 if self.image.display_flip_v else 1)
        for finding in self._findings:
            selected = finding.id == self._selected
            self._graphics[finding.id] = FindingGraphic(
                scene, finding, selected, self.edit_handles, self.layers["boxes"], corner, grow_left
            )
        self._stack_labels()

    def _stack_labels(self) -> None:
        """Lift labels that would overlap on screen above the ones placed before them, in the findings' order (the
        higher-ranked finding keeps its label on its box). Two candidates on one mass share a corner, and labels keep
        their screen size while boxes scale with the zoom, so this runs again whenever the zoom changes."""
        placed: list[QRectF] = []
        for graphic in self._graphics.values():
            anchor = self.viewportTransform().map(graphic.label.pos())  # not mapFromScene: it rounds
            rect = graphic.label.screen_rect().translated(anchor).adjusted(0, -1, 0, 1)  # a pixel apart
            lift = 0.0
            while any(rect.translated(0, -lift).intersects(other) for other in placed):
                lift += 1.0
            graphic.label.lift(lift)
            placed.append(rect.translated(0, -lift))

    def set_mode(self, mode: str) -> None:
        """``review`` (click to select, drag handles) or ``add`` (drag a rectangle to add a mass)."""
        self.mode = mode
        self._drop_rubber()
        self.viewport().setCursor(Qt.CrossCursor if mode == "add" else Qt.ArrowCursor)
        self.viewport().update()

    # ------------------------------------------------------------------ zoom and pan
    def _flips(self) -> tuple[float, float]:
        if self.image is None:
            return 1.0, 1.0
        return (-1.0 if self.image.display_flip_h else 1.0), (-1.0 if self.image.display_flip_v else 1.0)

    @property
    def zoom(self) -> float:
        return abs(self.transform().m11())

    def fit(self) -> None:
        """The whole image in the view, aligned towards the chest-wall side."""
        self._fitted = True
        if self.image is None:
            return
        size = self.viewport().size()
        zoom = FIT_MARGIN * min(size.width() / self.image.cols, size.height() / self.image.rows)
        if zoom <= 0:
            return
        sx, sy = self._flips()
        self.setTransform(QTransform.fromScale(zoom * sx, zoom * sy))
        self._stack_labels()

    def zoom_by(self, factor: float) -> None:
        self._fitted = False
        self.scale(factor, factor)
        self._stack_labels()

    def viewport_state(self) -> tuple[float, float, float] | None:
        """(u, v, zoom): the centre of the view in canonical (chest wall left) fractions of the image."""
        if self.image is None:
            return None
        centre = self.mapToScene(self.viewport().rect().center())
        u, v = (centre.x() + 0.5) / self.image.cols, (centre.y() + 0.5) / self.image.rows
        u = 1.0 - u if self.image.canonical_flip_h else u
        v = 1.0 - v if self.image.canonical_flip_v else v
        return u, v, self.zoom

    def apply_viewport_state(self, state: tuple[float, float, float]) -> None:
        """Show the same anatomy as a partner view: same canonical centre, same zoom."""
        if self.image is None:
            return
        u, v, zoom = state
        u = 1.0 - u if self.image.canonical_flip_h else u
        v = 1.0 - v if self.image.canonical_flip_v else v
        sx, sy = self._flips()
        anchor = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setTransform(QTransform.fromScale(zoom * sx, zoom * sy))
        self.setTransformationAnchor(anchor)
        self._stack_labels()
        self.centerOn(u * self.image.cols - 0.5, v * self.image.rows - 0.5)
        self._fitted = False

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if self.image is None or steps == 0:
            return
        self.zoom_by(ZOOM_STEP**steps)
        self.view_changed.emit()
        event.accept()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    # ------------------------------------------------------------------ mouse
    def _clamped(self, point: QPointF) -> QPointF:
        assert self.image is not None
        return QPointF(
            min(max(point.x(), 0.0), float(self.image.cols)), min(max(point.y(), 0.0), float(self.image.rows))
        )

    def _handle_at(self, pos: QPoint) -> int:
        """Index into CORNERS of the selected finding's handle under ``pos``, or -1."""
        graphic = self._graphics.get(self._selected or "")
        if graphic is None or not self.edit_handles:
            return -1
        best, index = float(HANDLE_HIT), -1
        for n in range(len(CORNERS)):
            p = self.mapFromScene(graphic.corner(n))
            distance = math.hypot(p.x() - pos.x(), p.y() - pos.y())
            if distance <= best:
                best, index = distance, n
        return index

    def _finding_at(self, scene_point: QPointF) -> str | None:
        """The smallest visible finding whose box (with a few screen pixels of slack) holds the point."""
        slack = CLICK_TOLERANCE / max(self.zoom, 1e-6)
        hits = []
        for finding_id, graphic in self._graphics.items():
            x0, y0, x1, y1 = graphic.box
            if x0 - slack <= scene_point.x() <= x1 + slack and y0 - slack <= scene_point.y() <= y1 + slack:
                hits.append(((x1 - x0) * (y1 - y0), finding_id))
        return min(hits)[1] if hits else None

    def mousePressEvent(self, event: QMouseEvent) -> None:
        button, pos = event.button(), event.pos()
        if button == Qt.MiddleButton or (button == Qt.LeftButton and self.pan_key_down):
            self._drag = _Drag("pan", pos)
            self.viewport().setCursor(Qt.ClosedHandCursor)
        elif button == Qt.RightButton:
            self._drag = _Drag("window", pos)
        elif button == Qt.LeftButton and self.image is not None:
            scene_point = self._clamped(self.mapToScene(pos))
            corner = self._handle_at(pos) if self.mode == "review" else -1
            if self.mode == "add":
                self._drag = _Drag("draw", pos, pos, scene_point)
                self._rubber = QGraphicsRectItem(QRectF(scene_point, scene_point))
                self._rubber.setPen(cosmetic_pen(QColor(Qt.cyan), 1.5, Qt.DashLine))
                self._rubber.setZValue(Z_OUTLINE)
                self.scene().addItem(self._rubber)
            elif corner >= 0:
                self._drag = _Drag("handle", pos, pos, scene_point, corner)
            else:
                hit = self._finding_at(scene_point)
                if hit is not None:
                    self.finding_clicked.emit(hit)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        drag, pos = self._drag, event.pos()
        if drag is None:
            if self.mode == "review" and self._handle_at(pos) >= 0:
                self.viewport().setCursor(Qt.SizeAllCursor)
            elif self.mode == "review":
                self.viewport().setCursor(Qt.OpenHandCursor if self.pan_key_down else Qt.ArrowCursor)
            event.accept()
            return
        self._drag_to(drag, pos)
        event.accept()

    def _drag_to(self, drag: _Drag, pos: QPoint) -> None:
        """Follow a drag to ``pos`` (moves, and the release: some platforms send no moves in between)."""
        delta = pos - drag.last
        drag.last = pos
        if delta.isNull():
            return
        if drag.kind == "pan":
            self._fitted = False
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self.view_changed.emit()
        elif drag.kind == "window":
            self.window_dragged.emit(float(delta.x()), float(delta.y()))
        elif drag.kind == "handle":
            graphic = self._graphics.get(self._selected or "")
            if graphic is not None:
                graphic.preview(*self._dragged_geometry(graphic, pos, drag.corner))
        elif drag.kind == "draw" and self._rubber is not None and drag.start_scene is not None:
            self._rubber.setRect(QRectF(drag.start_scene, self._clamped(self.mapToScene(pos))).normalized())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            event.accept()
            return
        pos = event.pos()
        if drag.kind in ("pan", "window"):
            self._drag_to(drag, pos)
        elif drag.kind == "handle":
            graphic = self._graphics.get(self._selected or "")
            if graphic is not None:
                box, contour = self._dragged_geometry(graphic, pos, drag.corner)
                if pos != drag.start and _big_enough(box):  # not every platform sends the moves
                    self.box_edited.emit(graphic.finding.id, box, contour)
                else:
                    graphic.preview(graphic.box, graphic.contour)
        elif drag.kind == "draw" and drag.start_scene is not None:
            end = self._clamped(self.mapToScene(pos))
            self._drop_rubber()
            rect = QRectF(drag.start_scene, end).normalized()
            box = [rect.left(), rect.top(), rect.right(), rect.bottom()]
            if _big_enough(box):
                self.mass_drawn.emit(self.view_name, box)
        self.viewport().setCursor(Qt.CrossCursor if self.mode == "add" else Qt.ArrowCursor)
        event.accept()

    def _dragged_geometry(
        self, graphic: FindingGraphic, pos: QPoint, corner: int
    ) -> tuple[list[float], list[list[float]]]:
        """The box with ``corner`` dragged to ``pos`` (original pixels) and the outline scaled into it."""
        point = self._clamped(self.mapToScene(pos))
        i, j = CORNERS[corner]
        box = list(graphic.box)
        box[i], box[j] = point.x(), point.y()
        x0, x1 = sorted((box[0], box[2]))
        y0, y1 = sorted((box[1], box[3]))
        new = [x0, y0, x1, y1]
        return new, _scaled_contour(graphic.contour, graphic.box, new)

    def _drop_rubber(self) -> None:
        if self._rubber is not None:
            self.scene().removeItem(self._rubber)
            self._rubber = None

    # ------------------------------------------------------------------ painting
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        """The view name (and the add-mode hint) in screen coordinates, never mirrored."""
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(235, 235, 235))
        area = self.viewport().rect().adjusted(8, 6, -8, -6)
        side = Qt.AlignLeft if self.view_name.startswith("R") else Qt.AlignRight  # the outer corner
        painter.drawText(area, side | Qt.AlignTop, self.title)
        if self.mode == "add":
            painter.setPen(QColor(Qt.cyan))
            painter.drawText(area, Qt.AlignHCenter | Qt.AlignBottom, "Add mass: drag a rectangle (Esc cancels)")
        painter.restore()


def _big_enough(box: Sequence[float]) -> bool:
    return box[2] - box[0] >= MIN_BOX and box[3] - box[1] >= MIN_BOX


def _scaled_contour(
    contour: Sequence[Sequence[float]], old: Sequence[float], new: Sequence[float]
) -> list[list[float]]:
    """The outline as the reader sees it while dragging: mapped from the old box onto the new one."""
    ow, oh = old[2] - old[0], old[3] - old[1]
    if not contour or ow <= 0 or oh <= 0:
        return [[new[0], new[1]], [new[2], new[1]], [new[2], new[3]], [new[0], new[3]]]
    sx, sy = (new[2] - new[0]) / ow, (new[3] - new[1]) / oh
    return [[new[0] + (x - old[0]) * sx, new[1] + (y - old[1]) * sy] for x, y in contour]
