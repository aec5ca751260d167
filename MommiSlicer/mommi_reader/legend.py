"""The colour key of the overlays, drawn with the same colours the canvases use.

Malignancy bands and the heat ramp come from ``mommi.findings.overlay`` (via
``imaging``), so the legend cannot disagree with what is drawn; line styles are
the decision styles of ``overlay_items.finding_pen``. Two columns when the
panel is wide enough, one otherwise.
"""

from __future__ import annotations

from PyQt5.QtCore import QPointF, QRectF, QSize, Qt
from PyQt5.QtGui import QFontMetrics, QLinearGradient, QPainter, QPaintEvent, QPen
from PyQt5.QtWidgets import QSizePolicy, QWidget

from mommi.findings.overlay import AMBER, CYAN, GREEN, NEUTRAL, RED

from mommi_reader.imaging import colour, heat_ramp

ROW_HEIGHT = 17
TEXT_LEFT = 42  # swatch, then the text
ITEMS: tuple[tuple[str, tuple[int, int, int] | None, str], ...] = (
    ("mass probability", None, "heat"),
    ("malignancy < 0.3", GREEN, "solid"),
    ("malignancy 0.3\u20130.7", AMBER, "solid"),
    ("malignancy \u2265 0.7", RED, "solid"),
    ("no malignancy score, or withheld", NEUTRAL, "solid"),
    ("pending / accepted", NEUTRAL, "thick"),
    ("rejected", NEUTRAL, "dot"),
    ("added by the reader", NEUTRAL, "dashdot"),
    ("selected finding", (255, 255, 255), "dash"),
    ("nipple", CYAN, "cross"),
)
STYLES = {
    "solid": Qt.SolidLine,
    "thick": Qt.SolidLine,
    "dot": Qt.DotLine,
    "dashdot": Qt.DashDotLine,
    "dash": Qt.DashLine,
}


class LegendWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("legend")
        policy = QSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setToolTip(
            "Heat map: the model's mass probability (shown from 0.1). Outline colour: probability of "
            "malignancy. Line style: your decision."
        )

    def _column_width(self) -> int:
        """The width one column needs: the longest text in the widget's font."""
        metrics = QFontMetrics(self.font())
        return TEXT_LEFT + max(metrics.horizontalAdvance(text) for text, _, _ in ITEMS) + 4

    def _columns(self, width: int) -> int:
        return 2 if width >= 2 * self._column_width() else 1

    def _rows(self, width: int) -> int:
        columns = self._columns(width)
        return (len(ITEMS) + columns - 1) // columns

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return ROW_HEIGHT * self._rows(width) + 6

    def sizeHint(self) -> QSize:
        width = 2 * self._column_width()
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        width = self._column_width()
        return QSize(width, self.heightForWidth(width))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), colour((32, 32, 32)))
        rows = self._rows(self.width())
        column_width = self.width() / self._columns(self.width())
        for index, (text, rgb, kind) in enumerate(ITEMS):
            painter.save()
            painter.translate(index // rows * column_width, 3 + index % rows * ROW_HEIGHT)
            self._swatch(painter, rgb, kind, ROW_HEIGHT / 2)
            painter.setPen(colour((235, 235, 235)))
            painter.drawText(
                QRectF(TEXT_LEFT, 0, column_width - TEXT_LEFT - 4, ROW_HEIGHT), Qt.AlignVCenter | Qt.AlignLeft, text
            )
            painter.restore()
        painter.end()

    @staticmethod
    def _swatch(painter: QPainter, rgb: tuple[int, int, int] | None, kind: str, cy: float) -> None:
        if kind == "heat":
            swatch = QRectF(6, cy - 4, 30, 8)
            gradient = QLinearGradient(swatch.topLeft(), swatch.topRight())
            ramp = heat_ramp()
            for n, qcolour in enumerate(ramp):
                gradient.setColorAt(n / (len(ramp) - 1), qcolour)
            painter.fillRect(swatch, gradient)
        elif kind == "cross":
            painter.setPen(QPen(colour(rgb or CYAN), 2))
            painter.drawLine(QPointF(14, cy), QPointF(28, cy))
            painter.drawLine(QPointF(21, cy - 6), QPointF(21, cy + 6))
        elif kind == "thick":
            painter.setPen(QPen(colour(rgb or NEUTRAL), 2))
            painter.drawLine(QPointF(6, cy - 3), QPointF(36, cy - 3))
            painter.setPen(QPen(colour(rgb or NEUTRAL), 3.5))
            painter.drawLine(QPointF(6, cy + 3), QPointF(36, cy + 3))
        else:
            painter.setPen(QPen(colour(rgb or NEUTRAL), 2, STYLES[kind]))
            painter.drawLine(QPointF(6, cy), QPointF(36, cy))
