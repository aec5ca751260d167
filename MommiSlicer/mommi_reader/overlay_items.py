"""Scene items for one finding (outline, selection box, label, corner handles) and the nipple marker.

Items live in the scene's ORIGINAL pixel coordinates; only their pens are
cosmetic (same width at any zoom). Labels, handles and the nipple cross ignore
the view transform so that text is never mirrored by the hanging flips and
handles keep a size the mouse can hit.
"""

from __future__ import annotations

from collections.abc import Sequence

from PyQt5.QtCore import QPointF, QRectF, Qt
from PyQt5.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen, QPolygonF
from PyQt5.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QStyleOptionGraphicsItem,
    QWidget,
)

from mommi.feedback.state import FindingState
from mommi.findings.overlay import CYAN, LABEL_BG

from mommi_reader.imaging import colour, finding_colour

Z_HEAT, Z_OUTLINE, Z_NIPPLE, Z_LABEL, Z_HANDLE = 1, 2, 3, 4, 5
HANDLE_SIZE = 9  # screen pixels
#: (x index, y index) into [x0, y0, x1, y1] of the four corners
CORNERS: tuple[tuple[int, int], ...] = ((0, 1), (2, 1), (2, 3), (0, 3))
DECISION_MARK = {"pending": "", "accepted": "  \u2713 accepted", "rejected": "  \u2717 rejected"}


def cosmetic_pen(qcolour: QColor, width: float, style: Qt.PenStyle = Qt.SolidLine) -> QPen:
    pen = QPen(qcolour, width, style)
    pen.setCosmetic(True)
    return pen


def finding_pen(finding: FindingState) -> QPen:
    """Colour by malignancy band; line style by decision (legend.py explains both)."""
    qcolour = finding_colour(finding.malignancy)
    if finding.decision == "rejected":
        return cosmetic_pen(qcolour, 1.5, Qt.DotLine)
    if finding.origin == "reader":
        return cosmetic_pen(qcolour, 2.5, Qt.DashDotLine)
    return cosmetic_pen(qcolour, 3.0 if finding.decision == "accepted" else 2.0)


def label_text(finding: FindingState) -> str:
    """What the finding's label says: id, detection score, malignancy, BI-RADS (the reader's when set)."""
    parts = [finding.id]
    if finding.score is not None:
        parts.append(f"det {finding.score:.2f}")
    if getattr(finding, "malignancy_withheld", None):
        parts.append("mal withheld")
    elif finding.malignancy is not None:
        parts.append(f"mal {finding.malignancy:.2f}")
    if finding.birads:
        parts.append(f"BI-RADS {finding.birads} (reader)")
    elif finding.model_birads:
        parts.append(f"BI-RADS {finding.model_birads}")
    if finding.origin == "reader":
        parts.append("added")
    return "  ".join(parts) + DECISION_MARK.get(finding.decision, "")


def outline_path(box: Sequence[float], contour: Sequence[Sequence[float]] | None, as_box: bool) -> QPainterPath:
    path = QPainterPath()
    if as_box or not contour or len(contour) < 3:
        x0, y0, x1, y1 = box
        path.addRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)))
    else:
        path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in contour]))
        path.closeSubpath()
    return path


class LabelItem(QGraphicsItem):
    """Text on an opaque box, drawn in screen pixels just above a scene point.

    ``extend_left`` right-aligns it on the point: in right-breast views the chest
    wall is on the right, so labels grow towards the breast, not out of the image.
    """

    def __init__(self, text: str, text_colour: QColor, selected: bool, extend_left: bool = False) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        self.setZValue(Z_LABEL)
        self._text, self._colour, self._selected = text, text_colour, selected
        self._font = QFont()
        self._font.setPointSizeF(8.5)
        metrics = QFontMetricsF(self._font)
        width = metrics.horizontalAdvance(text) + 8
        self._anchored = QRectF(-width if extend_left else 0, -metrics.height() - 6, width, metrics.height() + 4)
        self._rect = QRectF(self._anchored)

    def screen_rect(self) -> QRectF:
        """Where the label sits unlifted, in screen pixels relative to its scene point."""
        return QRectF(self._anchored)

    def lift(self, pixels: float) -> None:
        """Draw the label ``pixels`` screen pixels higher than its point (to clear another label)."""
        self.prepareGeometryChange()
        self._rect = self._anchored.translated(0, -pixels)

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setPen(QPen(Qt.white, 1) if self._selected else Qt.NoPen)
        painter.setBrush(QBrush(colour(LABEL_BG)))
        painter.drawRect(self._rect)
        painter.setFont(self._font)
        painter.setPen(self._colour)
        painter.drawText(self._rect.adjusted(4, 0, -4, 0), Qt.AlignVCenter | Qt.AlignLeft, self._text)


class FindingGraphic:
    """Everything drawn for one finding; ``preview`` moves it while a handle is dragged."""

    def __init__(
        self,
        scene: QGraphicsScene,
        finding: FindingState,
        selected: bool,
        handles: bool,
        as_box: bool,
        label_corner: tuple[int, int],
        label_left: bool = False,
    ) -> None:
        self.finding, self.selected, self.as_box = finding, selected, as_box
        self.box = [float(v) for v in finding.box_px]
        self.contour = [[float(x), float(y)] for x, y in finding.contour_px]
        self._label_corner = label_corner
        self.outline = QGraphicsPathItem()
        self.outline.setPen(finding_pen(finding))
        self.outline.setZValue(Z_OUTLINE)
        self.selection = QGraphicsRectItem()
        self.selection.setPen(cosmetic_pen(QColor(Qt.white), 1.0, Qt.DashLine))
        self.selection.setZValue(Z_OUTLINE)
        self.selection.setVisible(selected)
        self.label = LabelItem(label_text(finding), finding_colour(finding.malignancy), selected, label_left)
        self.handles = [self._handle() for _ in CORNERS]
        for handle in self.handles:
            handle.setVisible(selected and handles)
        for item in (self.outline, self.selection, self.label, *self.handles):
            scene.addItem(item)
        self.preview(self.box, self.contour)

    @staticmethod
    def _handle() -> QGraphicsRectItem:
        half = HANDLE_SIZE / 2.0
        handle = QGraphicsRectItem(-half, -half, HANDLE_SIZE, HANDLE_SIZE)
        handle.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        handle.setBrush(QBrush(Qt.white))
        handle.setPen(QPen(Qt.black, 1))
        handle.setZValue(Z_HANDLE)
        return handle

    def preview(self, box: Sequence[float], contour: Sequence[Sequence[float]] | None) -> None:
        """Show the finding with this geometry (the stored one, or a drag in progress)."""
        x0, y0, x1, y1 = box
        self.outline.setPath(outline_path(box, contour, self.as_box))
        self.selection.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)))
        for handle, (i, j) in zip(self.handles, CORNERS):
            handle.setPos(box[i], box[j])
        i, j = self._label_corner
        self.label.setPos(box[i], box[j])

    def corner(self, index: int) -> QPointF:
        i, j = CORNERS[index]
        return QPointF(self.box[i], self.box[j])

    def items(self) -> list[QGraphicsItem]:
        return [self.outline, self.selection, self.label, *self.handles]

    def remove(self, scene: QGraphicsScene) -> None:
        for item in self.items():
            scene.removeItem(item)


#: what the nipple's tooltip says about where it came from (result.json's ``nipple_source``)
NIPPLE_SOURCES = {
    "detector": "Nipple: the keypoint detector's peak on the front skin line",
    "skin apex": "Nipple: the skin line's point farthest from the chest wall (the detector was not confident)",
}


class NippleMarker(QGraphicsPathItem):
    """A cyan cross of fixed screen size at the nipple; its tooltip says where the point came from, because the
    bilateral registration of an MLO pair starts from it and a reader who doubts it should know how it was found."""

    def __init__(self, x: float, y: float, source: str | None = None) -> None:
        path = QPainterPath()
        path.moveTo(-7, 0)
        path.lineTo(7, 0)
        path.moveTo(0, -7)
        path.lineTo(0, 7)
        super().__init__(path)
        self.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        self.setPen(QPen(colour(CYAN), 2))
        self.setZValue(Z_NIPPLE)
        self.setPos(x, y)
        self.setToolTip(NIPPLE_SOURCES.get(source or "", "Nipple"))
