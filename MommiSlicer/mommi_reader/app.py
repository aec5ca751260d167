"""Starting the reader: the QApplication, the review store, the main window.

The review database is opened before the window: without it no decision could
be saved, so a database that cannot be opened is a dialog and exit code 1
rather than a window that silently loses work.
"""

from __future__ import annotations

import logging
import signal
import sys

from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from mommi.feedback import store as review_store
from mommi.feedback.store import ReviewStore, ReviewStoreError

from mommi_reader import APP_NAME, APP_ORGANISATION, dialogs
from mommi_reader.main_window import MainWindow, ReaderOptions
from mommi_reader.settings import ReaderSettings

log = logging.getLogger(__name__)


def application(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication (created once)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(APP_ORGANISATION)
    app.setApplicationName(APP_NAME)
    return app  # type: ignore[return-value]


def open_store(options: ReaderOptions) -> ReviewStore:
    """The review store (``--db`` > MOMMI_REVIEW_DB > the engine's settings file > the user data folder):
    a SQLite file, or a team's PostgreSQL database."""
    return review_store.open_store(review_store.default_store_location(options.db))


def run(options: ReaderOptions) -> int:
    """Show the reader until it is closed; returns the process exit code."""
    app = application()
    dialogs.install_excepthook()
    try:
        store = open_store(options)
    except (ReviewStoreError, OSError, ValueError) as exc:
        dialogs.error(
            None,
            "Review database unavailable",
            f"{exc}\n\nThe reader cannot save decisions without it, so it will not start. "
            "Use --db PATH or fix the settings file.",
        )
        return 1
    window = MainWindow(store, ReaderSettings(), options)
    window.show()
    if options.path is not None:
        window.open_path(options.path)
    # Ctrl+C / SIGTERM close the window like the close button (settings saved, worker stopped). Python
    # handles signals only between bytecodes, so a timer lets the interpreter run now and then.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        return int(app.exec_())
    finally:
        store.close()
