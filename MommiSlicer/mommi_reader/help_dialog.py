"""The help dialog (H or F1): every shortcut and mouse gesture, from ``shortcuts.SHORTCUTS``.

Non-modal so the reader can keep it open beside the images while learning the keys.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mommi_reader.shortcuts import MOUSE, SHORTCUTS


def rows() -> list[tuple[str, str, str]]:
    """(group, keys, what it does) for every entry of the help table."""
    table = [(s.group, " or ".join(s.keys), s.text) for s in SHORTCUTS]
    table += [("Mouse", gesture, text) for gesture, text in MOUSE]
    return table


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("helpDialog")
        self.setWindowTitle("MommiSlicer Reader: keys and mouse")
        self.resize(880, 820)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Review from the keyboard: every decision is saved the moment you make it. "
            "Research software: not for clinical use."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        entries = rows()
        self.table = QTableWidget(len(entries), 3, self)
        self.table.setObjectName("shortcutTable")
        self.table.setHorizontalHeaderLabels(("", "Keys", "Does"))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.Stretch)
        for row, (group, keys, text) in enumerate(entries):
            for column, value in enumerate((group, keys, text)):
                item = QTableWidgetItem(value)
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
                self.table.setItem(row, column, item)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def texts(self) -> list[tuple[str, str]]:
        """(keys, description) as shown, for tests and screenshots."""
        return [(self.table.item(r, 1).text(), self.table.item(r, 2).text()) for r in range(self.table.rowCount())]
