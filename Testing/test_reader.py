"""The desktop reader (mommi_reader) driven like a radiologist would, offscreen with pytest-qt.

Every test runs the real analysis (shipped lite zoo, CPU) on synthetic studies in
the reader's worker thread, reviews with keys and mouse gestures sent to the
widgets, and checks what the review store holds, since the store is the reader's
only output. Message boxes are replaced by a recorder so that an unexpected
dialog fails the test instead of blocking it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip("PyQt5.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402
from PyQt5.QtTest import QTest  # noqa: E402
from PyQt5.QtWidgets import QApplication, QDialogButtonBox, QMessageBox  # noqa: E402

from mommi.data.synth import synthesize  # noqa: E402
from mommi.feedback.store import ReviewStore, open_store  # noqa: E402
from mommi.runtime.outputs import RESULT_FILE  # noqa: E402
from mommi.runtime.pipeline import Pipeline  # noqa: E402
from mommi_reader.main_window import MainWindow, ReaderOptions  # noqa: E402
from mommi_reader.overlay_items import CORNERS  # noqa: E402
from mommi_reader.settings import ReaderSettings  # noqa: E402
from mommi_reader.shortcuts import SHORTCUTS  # noqa: E402

ZOO = json.loads((Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json").read_text())
pytestmark = pytest.mark.skipif(
    not {"nipple-lite", "single-lite"} <= {m["name"] for m in ZOO["models"]},
    reason="the shipped zoo lacks the models the analysis needs",
)
READER = "dr-test"
WAIT_MS = 60_000


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two synthetic studies under one folder (a worklist), and a copy of the first whose L-CC is stored
    mirrored and upside down (so its display needs both flips)."""
    root = tmp_path_factory.mktemp("studies")
    first, second = synthesize(root / "worklist", 2, seed=7, normal_fraction=0.0)
    flipped = root / "flipped" / first.name
    shutil.copytree(first, flipped)
    path = flipped / "L_CC.dcm"
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array[::-1, ::-1]
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds.PatientOrientation = ["P", "H"]  # rows run towards the chest wall, columns towards the head
    ds.save_as(path, enforce_file_format=True)
    return {"worklist": root / "worklist", "first": first, "second": second, "flipped": flipped}


@pytest.fixture(autouse=True)
def qsettings_in_tmp(tmp_path: Path) -> Path:
    """QSettings("MommiSlicer", "Reader") written under the test's folder, never the user's."""
    folder = tmp_path / "qsettings"
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Record message boxes instead of blocking on them."""
    seen: list[tuple[str, str, str]] = []

    def recorder(kind: str):
        def show(parent, title, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            seen.append((kind, title, text))
            return QMessageBox.Ok

        return show

    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind))
    return seen


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "review.sqlite"


@pytest.fixture
def make_window(qtbot, tmp_path: Path, store_path: Path):  # noqa: ANN001, ANN201
    opened: list[tuple[MainWindow, ReviewStore]] = []

    def make() -> MainWindow:
        store = open_store(store_path)
        window = MainWindow(
            store, ReaderSettings(), ReaderOptions(reader=READER, device="cpu", results=tmp_path / "results")
        )
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        QApplication.setActiveWindow(window)
        opened.append((window, store))
        return window

    yield make
    for window, store in opened:
        window.close()
        store.close()


def open_and_wait(qtbot, window: MainWindow, path: Path) -> None:  # noqa: ANN001
    window.open_path(path)
    qtbot.waitUntil(lambda: window.controller.session is not None and not window.four_view.busy, timeout=WAIT_MS)


def press(window: MainWindow, key: int, modifiers: Qt.KeyboardModifiers = Qt.NoModifier) -> None:
    """A key press where the reader's keyboard focus is (shortcuts fire from there)."""
    QTest.keyClick(QApplication.focusWidget() or window, key, modifiers)


def events(store_path: Path) -> list:
    with open_store(store_path) as store:
        return store.events()


def drag(widget, start: QPoint, end: QPoint, button: Qt.MouseButton = Qt.LeftButton) -> None:  # noqa: ANN001
    QTest.mousePress(widget, button, Qt.NoModifier, start)
    QTest.mouseMove(widget, (start + end) / 2)
    QTest.mouseMove(widget, end)
    QTest.mouseRelease(widget, button, Qt.NoModifier, end)


# ----------------------------------------------------------------------------- tests
def test_hanging_order_and_keyboard_review(qtbot, make_window, studies, store_path, dialogs) -> None:  # noqa: ANN001
    window = make_window()
    open_and_wait(qtbot, window, studies["first"])
    layout = window.four_view.layout()
    cells = {
        view: layout.getItemPosition(layout.indexOf(canvas))[:2] for view, canvas in window.four_view.canvases.items()
    }
    assert cells == {"R-CC": (0, 0), "L-CC": (0, 1), "R-MLO": (1, 0), "L-MLO": (1, 1)}
    assert all(canvas.image is not None for canvas in window.four_view.canvases.values())
    assert "CPU" in window.device_label.text() and "zoo" in window.zoo_label.text()
    assert "analysis" in window.time_label.text()
    # the nipple cross says where it came from (the detector, or the skin apex where it was not confident)
    markers = [canvas.nipple_marker for canvas in window.four_view.canvases.values()]
    assert all(m is not None and m.toolTip().startswith("Nipple: the ") for m in markers)

    session = window.controller.session
    ids = [f.id for f in session.findings]
    assert len(ids) >= 2, "the synthetic study should give at least two findings"
    scores = [f.score for f in session.findings]
    assert scores == sorted(scores, reverse=True)
    table = window.panel.widget.findingsTable
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ids

    press(window, Qt.Key_A)
    press(window, Qt.Key_N)
    assert session.selected_id == ids[1]
    press(window, Qt.Key_R)
    press(window, Qt.Key_P)
    assert session.selected_id == ids[0]
    assert table.item(0, 4).text().startswith("accepted") and table.item(1, 4).text().startswith("rejected")

    press(window, Qt.Key_Z, Qt.ControlModifier)
    assert session.state.findings[ids[1]].decision == "pending"
    press(window, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert session.state.findings[ids[1]].decision == "rejected"

    stored = events(store_path)
    assert [(e.action, e.finding_id) for e in stored] == [
        ("accept", ids[0]),
        ("reject", ids[1]),
        ("undo", None),
        ("redo", None),
    ]
    assert stored[2].payload["event_id"] == stored[1].id and stored[3].payload["event_id"] == stored[2].id

    # assessment from the keyboard: B goes to BI-RADS, Alt+O to biopsy, C to the comment field
    panel = window.panel.widget
    press(window, Qt.Key_B)
    assert QApplication.focusWidget() is panel.biradsCombo
    for _ in range(3):
        QTest.keyClick(panel.biradsCombo, Qt.Key_Down)  # not set -> 1 -> 2 -> 3
    QTest.keyClick(panel.biradsCombo, Qt.Key_O, Qt.AltModifier)
    assert QApplication.focusWidget() is panel.biopsyCombo
    QTest.keyClick(panel.biopsyCombo, Qt.Key_Down)
    press(window, Qt.Key_C)
    assert QApplication.focusWidget() is panel.commentEdit
    QTest.keyClicks(panel.commentEdit, "round, circumscribed; no spicules")  # letters are text here, not keys
    QTest.keyClick(panel.commentEdit, Qt.Key_Return)
    first = session.state.findings[ids[0]]
    assert (first.birads, first.biopsy, first.comments) == ("3", "benign", ["round, circumscribed; no spicules"])
    assert first.decision == "accepted" and panel.commentEdit.text() == ""
    assert [panel.commentsList.item(i).text() for i in range(panel.commentsList.count())] == first.comments
    stored = events(store_path)
    assert [e.action for e in stored[4:]] == ["set_birads"] * 3 + ["set_biopsy", "comment"]
    assert {e.reader for e in stored} == {READER} and {e.finding_id for e in stored[4:]} == {ids[0]}
    assert dialogs == []


def test_drag_a_handle_on_a_flipped_view_stores_original_pixels(
    qtbot, make_window, studies, store_path, dialogs
) -> None:  # noqa: ANN001
    window = make_window()
    open_and_wait(qtbot, window, studies["flipped"])
    canvas = window.four_view.canvases["L-CC"]
    assert canvas.image is not None and canvas.image.display_flip_h and canvas.image.display_flip_v
    assert canvas.transform().m11() < 0 and canvas.transform().m22() < 0  # flips are in the view transform
    session = window.controller.session
    finding = next(f for f in session.findings if f.view == "L-CC")

    # select it with a click on its box
    x0, y0, x1, y1 = finding.box_px
    QTest.mouseClick(
        canvas.viewport(), Qt.LeftButton, Qt.NoModifier, canvas.mapFromScene(QPointF((x0 + x1) / 2, (y0 + y1) / 2))
    )
    assert session.selected_id == finding.id

    press(window, Qt.Key_E)
    graphic = canvas._graphics[finding.id]
    assert all(handle.isVisible() for handle in graphic.handles)
    # grab the corner shown at the bottom right of the screen and drag it further out
    screen = [canvas.mapFromScene(graphic.corner(n)) for n in range(4)]
    corner = max(range(4), key=lambda n: screen[n].x() + screen[n].y())
    start = screen[corner]
    end = start + QPoint(24, 16)
    drag(canvas.viewport(), start, end)

    moved = canvas.mapToScene(end)
    i, j = CORNERS[corner]
    fixed_x, fixed_y = finding.box_px[2 - i], finding.box_px[4 - j]
    expected = [min(fixed_x, moved.x()), min(fixed_y, moved.y()), max(fixed_x, moved.x()), max(fixed_y, moved.y())]
    edit = events(store_path)[-1]
    assert edit.action == "edit_geometry" and edit.finding_id == finding.id
    assert edit.before["box_px"] == finding.box_px
    np.testing.assert_allclose(edit.after["box_px"], expected, atol=0.011)
    # right and down on a view flipped both ways is left and up in the file's pixels
    assert moved.x() < finding.box_px[i] and moved.y() < finding.box_px[j]
    contour = np.array(edit.after["contour_px"])
    assert contour[:, 0].min() >= expected[0] - 0.02 and contour[:, 0].max() <= expected[2] + 0.02
    assert session.state.findings[finding.id].edited
    assert dialogs == []


def test_labels_of_overlapping_findings_do_not_cover_each_other_at_any_zoom(
    qtbot, make_window, studies, dialogs
) -> None:  # noqa: ANN001
    """Two marks on one mass put their labels on the same corner; the later one is lifted above the first, and
    again after a zoom (labels keep their screen size while boxes scale). A lone label stays on its box."""
    window = make_window()
    open_and_wait(qtbot, window, studies["flipped"])  # flipped both ways: screen and scene axes disagree
    canvas = window.four_view.canvases["L-CC"]
    first = next(f for f in window.controller.session.findings if f.view == "L-CC")
    x0, y0, x1, y1 = first.box_px
    assert window.controller.add_mass("L-CC", [x0 + 2, y0 + 1, x1 + 2, y1 + 1])  # almost the same box
    assert window.controller.add_mass("L-CC", [x0 + 1, y0 + 2, x1 + 1, y1 + 2])

    def screen_rects() -> list:
        return [
            g.label.deviceTransform(canvas.viewportTransform()).mapRect(g.label.boundingRect().adjusted(1, 1, -1, -1))
            for g in canvas._graphics.values()
        ]

    for zoom in (1.0, 0.5, 3.0):
        canvas.zoom_by(zoom)
        rects = screen_rects()
        assert len(rects) >= 3
        overlapping = [(a, b) for i, a in enumerate(rects) for b in rects[i + 1 :] if a.intersects(b)]
        assert not overlapping, (zoom, rects)
    labels = [g.label for g in canvas._graphics.values()]
    assert labels[0].boundingRect().adjusted(1, 1, -1, -1) == labels[0].screen_rect()  # the first stays put
    for other in window.four_view.canvases.values():  # a label that covers no other label stays on its box
        unlifted = [
            g.label.screen_rect().translated(other.viewportTransform().map(g.label.pos()))
            for g in other._graphics.values()
        ]
        for i, (graphic, rect) in enumerate(zip(other._graphics.values(), unlifted)):
            if not any(rect.intersects(r) for j, r in enumerate(unlifted) if j != i):
                assert graphic.label.boundingRect().adjusted(1, 1, -1, -1) == graphic.label.screen_rect()
    assert dialogs == []


def test_draw_a_missed_mass_in_add_mode(qtbot, make_window, studies, store_path, dialogs) -> None:  # noqa: ANN001
    window = make_window()
    open_and_wait(qtbot, window, studies["first"])
    press(window, Qt.Key_M)
    canvas = window.four_view.canvases["R-MLO"]
    assert canvas.mode == "add"
    centre = canvas.viewport().rect().center()
    start, end = centre + QPoint(-30, -20), centre + QPoint(10, 25)
    drag(canvas.viewport(), start, end)

    a, b = canvas.mapToScene(start), canvas.mapToScene(end)
    expected = [min(a.x(), b.x()), min(a.y(), b.y()), max(a.x(), b.x()), max(a.y(), b.y())]
    added = events(store_path)[-1]
    assert added.action == "add_finding" and added.after["view"] == "R-MLO"
    np.testing.assert_allclose(added.after["box_px"], expected, atol=0.011)
    session = window.controller.session
    assert session.selected_id == added.finding_id
    assert session.selected.decision == "accepted" and session.selected.origin == "reader"
    assert canvas.mode == "review" and not window.actions_by_name["add_mass"].isChecked()
    assert added.finding_id in canvas._graphics
    assert dialogs == []


def test_bad_input_shows_a_dialog_and_the_reader_carries_on(qtbot, make_window, studies, tmp_path, dialogs) -> None:  # noqa: ANN001
    window = make_window()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "IM0001.dcm").write_bytes(b"DICM" + bytes(range(256)) * 4)
    window.open_path(broken)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    kind, title, text = dialogs[0]
    assert kind == "critical" and title == "No study found" and "IM0001.dcm" in text
    assert window.isVisible() and window.controller.session is None

    window.open_path(tmp_path / "does-not-exist")
    qtbot.waitUntil(lambda: len(dialogs) == 2, timeout=WAIT_MS)
    assert dialogs[1][1] == "No study found"

    # a good study next to a corrupt file: a warning names the file, the study opens
    mixed = tmp_path / "mixed"
    shutil.copytree(studies["first"], mixed)
    (mixed / "zz_corrupt.dcm").write_bytes(b"\x00" * 200)
    open_and_wait(qtbot, window, mixed)
    assert dialogs[2][0] == "warning" and "zz_corrupt.dcm" in dialogs[2][2]
    press(window, Qt.Key_A)
    assert window.controller.session.findings[0].decision == "accepted"


def test_cancel_an_analysis(qtbot, make_window, studies, tmp_path, monkeypatch, dialogs) -> None:  # noqa: ANN001
    original = Pipeline.analyze

    def slow(self, study, progress=None, cancel=None, load_seconds=None):  # noqa: ANN001, ANN202
        def slow_progress(stage: str, fraction: float) -> None:
            progress(stage, fraction)
            time.sleep(0.2)  # leaves the reader time to cancel between stages

        return original(self, study, slow_progress, cancel, load_seconds)

    monkeypatch.setattr(Pipeline, "analyze", slow)
    window = make_window()
    window.open_path(studies["first"])
    qtbot.waitUntil(lambda: window.analysing and window.progress.value() > 0, timeout=WAIT_MS)
    assert window.cancel_button.isVisible()
    QTest.mouseClick(window.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not window.analysing and not window.four_view.busy, timeout=WAIT_MS)
    assert window.controller.session is None and window.outcome is None
    assert "cancelled" in window.statusBar().currentMessage()
    assert not list((tmp_path / "results").rglob(RESULT_FILE))  # nothing half-written
    assert all(canvas.image is not None for canvas in window.four_view.canvases.values())  # still showing

    press(window, Qt.Key_F5)  # analyse again: it completes
    qtbot.waitUntil(lambda: window.controller.session is not None, timeout=WAIT_MS)
    assert list((tmp_path / "results").rglob(RESULT_FILE))
    assert dialogs == []


def test_worklist_statuses_and_next_previous_study(qtbot, make_window, studies, dialogs) -> None:  # noqa: ANN001
    window = make_window()
    open_and_wait(qtbot, window, studies["worklist"])
    worklist = window.worklist
    assert window.worklist_dock.isVisible() and len(worklist.entries) == 2
    assert [worklist.status_of(r) for r in range(2)] == ["unread", "unread"]
    first_uid = window.controller.session.study_uid
    assert worklist.current == 0 and worklist.entries[0].study_uid == first_uid
    assert not window.outcome.from_saved

    press(window, Qt.Key_A)
    assert worklist.status_of(0) == "in progress"
    press(window, Qt.Key_D, Qt.ControlModifier)
    assert worklist.status_of(0) == "done"
    assert window.panel.widget.statusCombo.currentText() == "done"

    press(window, Qt.Key_PageDown)
    second_uid = worklist.entries[1].study_uid
    qtbot.waitUntil(
        lambda: window.controller.session is not None and window.controller.session.study_uid == second_uid,
        timeout=WAIT_MS,
    )
    assert worklist.current == 1 and [worklist.status_of(r) for r in range(2)] == ["done", "unread"]
    assert not window.worklist.next_button.isEnabled()

    press(window, Qt.Key_PageUp)
    qtbot.waitUntil(
        lambda: window.controller.session is not None and window.controller.session.study_uid == first_uid,
        timeout=WAIT_MS,
    )
    assert window.outcome.from_saved  # re-opened: read back, not analysed again
    assert window.controller.session.status == "done"
    assert window.controller.session.findings[0].decision == "accepted"
    assert dialogs == []


def test_help_dialog_lists_every_shortcut(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    press(window, Qt.Key_H)
    dialog = window.help_dialog
    assert dialog is not None and dialog.isVisible()
    shown = dict(dialog.texts())
    for shortcut in SHORTCUTS:
        assert " or ".join(shortcut.keys) in shown
    for keys in ("A", "R", "N", "P", "E", "M", "F", "H or F1", "Ctrl+Z", "Ctrl+Shift+Z or Ctrl+Y"):
        assert keys in shown, keys
    assert any("Right drag" in keys for keys in shown)
    dialog.close()
    window.activateWindow()
    press(window, Qt.Key_F1)
    assert dialog.isVisible()


def test_settings_are_remembered(qtbot, make_window, qsettings_in_tmp) -> None:  # noqa: ANN001
    window = make_window()
    window.opacity.setValue(70)
    window.actions_by_name["toggle_heat"].setChecked(False)
    window.actions_by_name["toggle_boxes"].setChecked(True)
    window.resize(1234, 777)
    window.close()
    files = list(qsettings_in_tmp.rglob("*.ini"))
    assert [f.name for f in files] == ["Reader.ini"] and files[0].parent.name == "MommiSlicer"
    assert "heat_opacity=70" in files[0].read_text()

    again = make_window()
    dialog = again.show_settings()  # the Settings dialog writes the same QSettings
    dialog.role.setCurrentText("annotator")
    dialog.write_dicom.setChecked(True)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert again.role == "annotator" and "annotator" in again.reader_label.text()
    assert again.settings.get("write_dicom") is True
    assert "role=annotator" in files[0].read_text()
    assert again.opacity.value() == 70
    assert not again.actions_by_name["toggle_heat"].isChecked()
    assert again.actions_by_name["toggle_boxes"].isChecked()
    assert again.four_view.canvases["L-CC"].layers["boxes"]
    assert (again.width(), again.height()) == (1234, 777)


def test_the_model_zoo_is_a_setting_checked_before_it_is_kept(  # noqa: ANN001
    qtbot, make_window, studies, tmp_path, dialogs
) -> None:
    """Settings > Model zoo: a folder that is not a zoo is refused in the dialog (the engine's zoo error), a
    zoo is kept, shown and analysed with at once (a pipeline of its own), remembered for the next window,
    and --zoo overrides it for one run."""
    from zoo_copies import copy_zoo

    window = make_window()
    dialog = window.show_settings()
    dialog.zoo.setText(str(tmp_path / "nowhere"))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert dialog.isVisible() and not dialog.zoo_problem.isHidden()
    assert f"no model zoo manifest at {tmp_path / 'nowhere'}" in dialog.zoo_problem.text()
    assert window.settings.get("zoo") == "" and window.worker.options.zoo is None

    def renamed(data: dict) -> None:
        data["zoo_version"] = "9.9.9-site"

    zoo = copy_zoo(tmp_path / "site-zoo", renamed).parent
    dialog.zoo.setText(str(zoo))
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.Ok).click()
    assert not dialog.isVisible() and window.settings.get("zoo") == str(zoo)
    assert window.zoo_label.text() == "zoo 9.9.9-site"
    qtbot.waitUntil(lambda: window.worker.options.zoo == zoo, timeout=WAIT_MS)  # queued to the worker thread
    open_and_wait(qtbot, window, studies["first"])
    assert window.outcome is not None and window.outcome.result.zoo_version == "9.9.9-site"
    assert dialogs == []

    again = make_window()  # remembered
    assert again.zoo_label.text() == "zoo 9.9.9-site" and again._worker_options().zoo == zoo
    again.options.zoo = default_zoo = Path(__file__).resolve().parents[1] / "model_zoo"
    assert again._worker_options().zoo == default_zoo  # --zoo wins for its run


def test_export_dialog_writes_a_batch(qtbot, make_window, studies, tmp_path, monkeypatch, dialogs) -> None:  # noqa: ANN001
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the site salt goes there
    window = make_window()
    open_and_wait(qtbot, window, studies["first"])
    press(window, Qt.Key_A)
    press(window, Qt.Key_D, Qt.ControlModifier)
    dialog = window.show_export()
    dialog.out.setText(str(tmp_path / "batch"))
    assert dialog.status.currentText() == "done"
    dialog.reader.setText(READER)
    with qtbot.waitSignal(dialog.exported, timeout=WAIT_MS) as blocker:
        dialog.start()
    result = blocker.args[0]
    manifest = json.loads((tmp_path / "batch" / "manifest.json").read_text())
    assert result.counts["studies"] == 1 and manifest["filters"]["status"] == "done"
    assert manifest["filters"]["reader"] == READER
    assert dialogs == []


def test_cli_registers_reader_and_needs_pyqt(monkeypatch, capsys, tmp_path) -> None:  # noqa: ANN001
    import argparse
    import sys

    from mommi.cli import exit_codes, reader_cmd

    parser = argparse.ArgumentParser(prog="mommi")
    reader_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "reader",
            str(tmp_path),
            "--reader",
            "dr-x",
            "--db",
            str(tmp_path / "r.sqlite"),
            "--zoo",
            str(tmp_path),
            "--device",
            "cpu",
        ]
    )
    assert args.handler is reader_cmd.run_reader and args.reader == "dr-x" and args.device == "cpu"

    monkeypatch.setitem(sys.modules, "PyQt5.QtWidgets", None)  # as if PyQt5 were not installed
    assert reader_cmd.run_reader(args) == exit_codes.USAGE
    assert "pip install" in capsys.readouterr().err
    monkeypatch.undo()
    missing = parser.parse_args(["reader", str(tmp_path / "nowhere")])
    assert reader_cmd.run_reader(missing) == exit_codes.USAGE


def test_zoom_pan_linked_per_row_and_window_level_shared(qtbot, make_window, studies) -> None:  # noqa: ANN001
    from PyQt5.QtGui import QWheelEvent

    window = make_window()
    window.open_path(studies["first"])
    canvases = window.four_view.canvases
    qtbot.waitUntil(
        lambda: all(c.image is not None for c in canvases.values()) and not window.four_view.busy, timeout=WAIT_MS
    )
    right, left, mlo = canvases["R-CC"], canvases["L-CC"], canvases["R-MLO"]
    fitted, mlo_fitted = right.zoom, mlo.zoom
    centre = QPointF(right.viewport().rect().center())
    globl = QPointF(right.viewport().mapToGlobal(centre.toPoint()))
    for _ in range(5):
        wheel = QWheelEvent(
            centre, globl, QPoint(), QPoint(0, 120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False
        )
        QApplication.sendEvent(right.viewport(), wheel)
    assert right.zoom == pytest.approx(fitted * 1.15**5)
    assert left.zoom == pytest.approx(right.zoom) and mlo.zoom == pytest.approx(mlo_fitted)
    before = right.viewport_state()
    drag(right.viewport(), QPoint(200, 200), QPoint(160, 150), Qt.MiddleButton)  # pan
    (u, v, _), (lu, lv, _) = right.viewport_state(), left.viewport_state()
    assert abs(u - before[0]) > 0.02 and abs(v - before[1]) > 0.02
    assert (lu, lv) == (pytest.approx(u, abs=0.01), pytest.approx(v, abs=0.01))  # same anatomy, mirrored

    drag(mlo.viewport(), QPoint(100, 100), QPoint(150, 80), Qt.RightButton)  # window / level
    assert window.four_view.window > 1.0 and window.four_view.level > 0.5
    assert window.wl_label.text().startswith("W 1.20 L 0.58")
    press(window, Qt.Key_F)
    assert right.zoom == pytest.approx(fitted, rel=1e-3) and left.zoom == pytest.approx(fitted, rel=1e-3)
    press(window, Qt.Key_W)
    assert (window.four_view.window, window.four_view.level) == (1.0, 0.5)


def test_a_study_reanalysed_with_another_zoo_shows_its_findings_and_carries_decisions_over(  # noqa: ANN001
    qtbot, make_window, studies, store_path, tmp_path, dialogs
) -> None:
    """Reviewed with the shipped zoo, opened again with a zoo whose operating point drops the weakest finding:
    the panel shows the new result's findings with the decision on the kept one carried over, says the
    decision on the dropped one is not, and the store keeps both in its trail."""
    from zoo_copies import copy_zoo

    window = make_window()
    open_and_wait(qtbot, window, studies["first"])
    session = window.controller.session
    assert session.result_version == 1 and "Result version" not in window.panel.widget.studyLabel.text()
    top, weakest = session.findings[0], min(session.findings, key=lambda f: f.score)
    press(window, Qt.Key_A)  # the first finding is selected on opening
    assert window.controller.select(weakest.id) and window.controller.reject()
    rejected = events(store_path)[-1]
    threshold = (weakest.score + min(f.score for f in session.findings if f.id != weakest.id)) / 2
    assert weakest.score < threshold < top.score
    zoo = copy_zoo(tmp_path / "stricter-zoo", lambda data: data["operating_point"].update(min_score=threshold))

    store = open_store(store_path)
    again = MainWindow(
        store,
        ReaderSettings(),
        ReaderOptions(reader=READER, device="cpu", results=tmp_path / "results", zoo=zoo.parent),
    )
    qtbot.addWidget(again)
    try:
        again.show()
        open_and_wait(qtbot, again, studies["first"])
        assert not again.outcome.from_saved  # another operating point: analysed afresh
        current = again.controller.session
        assert current.result_version == 2 and len(store.results(current.study_uid)) == 2
        shown = {f.id for f in current.findings}
        assert shown == {f.id for f in again.outcome.result.findings} and weakest.id not in shown
        assert current.state.findings[top.id].decision == "accepted"
        assert current.state.not_carried_over == [rejected.id] and rejected in store.events(current.study_uid)
        label = again.panel.widget.studyLabel.text()
        assert "Result version 2: 1 decision from another analysis carried over; 1 decision not carried" in label
        assert dialogs == []
    finally:
        again.close()
        store.close()
