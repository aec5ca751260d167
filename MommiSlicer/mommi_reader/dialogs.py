"""Message boxes, in one place: every problem the user must see goes through here.

The reader never lets an exception escape to Qt (PyQt5 aborts the process on an
unhandled exception in a slot): callers catch what they expect and show it with
these functions, and ``install_excepthook`` turns anything unexpected into a
dialog too. Tests replace ``QMessageBox``'s static methods to record the
messages instead of blocking on them.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PyQt5.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger(__name__)


def error(parent: QWidget | None, title: str, text: str) -> None:
    """Something the user asked for could not be done (bad input, unreadable file, refused action)."""
    log.warning("%s: %s", title, text)
    QMessageBox.critical(parent, title, text)


def warning(parent: QWidget | None, title: str, text: str) -> None:
    """Something worked only partly, or an action was refused; the application carries on."""
    log.warning("%s: %s", title, text)
    QMessageBox.warning(parent, title, text)


def information(parent: QWidget | None, title: str, text: str) -> None:
    QMessageBox.information(parent, title, text)


def install_excepthook() -> None:
    """Show unexpected errors in a dialog instead of letting PyQt5 abort the process.

    Review actions are saved before they return, so after such an error nothing
    the reader did is lost; the dialog asks them to report it.
    """

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        log.error("unexpected error in the reader:\n%s", text)
        if issubclass(kind, KeyboardInterrupt):
            QApplication.quit()
            return
        parent = QApplication.activeWindow()
        QMessageBox.critical(
            parent,
            "Unexpected error",
            f"The reader hit an unexpected error ({kind.__name__}: {value}).\n\n"
            "Your review decisions are saved as you make them, so nothing is lost. "
            "Please report this error with the log output.",
        )

    sys.excepthook = hook
