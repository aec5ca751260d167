"""Screenshots of the desktop reader for the README, rendered offscreen from a real analysis.

Opens a synthetic four-view study (seed 7) in the reader with temporary settings,
review database and results folder, waits for the analysis (shipped lite zoo,
CPU), accepts the first finding, selects the next one with its edit handles
showing, and grabs the window; then the help dialog. Writes

    Resources/Screenshots/reader-four-view.png
    Resources/Screenshots/reader-help.png

    QT_QPA_PLATFORM=offscreen python Testing/screenshots/make_reader_screenshots.py [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[2]
SIZE = (1440, 900)
MAX_BYTES = 500_000


def wait(app, condition, seconds: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the reader (see the log)")
        app.processEvents()
        time.sleep(0.01)


def save(image, path: Path) -> int:  # noqa: ANN001
    """PNG at the highest compression; if still too big, 256 colours (the synthetic noise compresses badly)."""
    from PyQt5.QtCore import Qt
    from PyQt5.QtGui import QImage

    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(str(path), "PNG", 0)
    if path.stat().st_size > MAX_BYTES:
        image.convertToFormat(QImage.Format_Indexed8, Qt.ThresholdDither | Qt.PreferDither).save(str(path), "PNG", 0)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "Resources" / "Screenshots")
    args = parser.parse_args()

    from PyQt5.QtCore import QSettings
    from PyQt5.QtTest import QTest

    from mommi.data.synth import synthesize
    from mommi.feedback.store import open_store
    from mommi_reader.app import application
    from mommi_reader.main_window import MainWindow, ReaderOptions
    from mommi_reader.settings import ReaderSettings

    with tempfile.TemporaryDirectory(prefix="mommi-shots-") as tmp_name:
        tmp = Path(tmp_name)
        QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp / "settings"))
        study = synthesize(tmp / "studies", 1, seed=7, normal_fraction=0.0)[0]
        app = application()
        store = open_store(tmp / "review.sqlite")
        window = MainWindow(
            store, ReaderSettings(), ReaderOptions(reader="dr-demo", device="cpu", results=tmp / "results")
        )
        window.resize(*SIZE)
        window.show()
        QTest.qWaitForWindowExposed(window)
        window.open_path(study)
        wait(app, lambda: window.controller.session is not None and not window.four_view.busy)
        window.controller.accept()  # the first (highest-scoring) finding
        window.controller.next()
        window.actions_by_name["edit"].setChecked(True)  # the selected finding shows its handles
        for _ in range(20):
            app.processEvents()
        size = save(window.grab().toImage(), args.out / "reader-four-view.png")
        print(f"{args.out / 'reader-four-view.png'}: {size / 1000:.0f} kB")

        dialog = window.show_help()
        dialog.resize(900, 1060)
        QTest.qWaitForWindowExposed(dialog)
        for _ in range(10):
            app.processEvents()
        size = save(dialog.grab().toImage(), args.out / "reader-help.png")
        print(f"{args.out / 'reader-help.png'}: {size / 1000:.0f} kB")
        window.close()
        store.close()


if __name__ == "__main__":
    main()
