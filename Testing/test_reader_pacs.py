"""The reader's File > Open from PACS (#19 item 3) against a real Orthanc, offscreen with pytest-qt: the search
lists the studies over DICOMweb and DIMSE, "Retrieve and open" puts the four views in the main window with
the progress shown and adds the study to the worklist labelled with its server, a refused server is an error
in the dialog (which stays usable), the servers searched are remembered without any login, and closing the
dialog or the window while a request runs neither crashes nor applies the abandoned answer."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

pytest.importorskip("PyQt5.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt5.QtCore import QDate, QSettings, Qt  # noqa: E402
from PyQt5.QtTest import QTest  # noqa: E402
from PyQt5.QtWidgets import QApplication, QMessageBox  # noqa: E402

import dicom_factory as factory  # noqa: E402
from mommi.feedback.store import ReviewStore, open_store  # noqa: E402
from mommi_reader.main_window import MainWindow, ReaderOptions  # noqa: E402
from mommi_reader.pacs_dialog import PacsCall, PacsDialog  # noqa: E402
from mommi_reader.settings import ReaderSettings  # noqa: E402
from mommi_reader.shortcuts import SHORTCUTS  # noqa: E402
from orthanc_server import PASSWORD, USER, free_port, orthanc_missing, running_orthanc, use_test_login  # noqa: E402

ZOO = json.loads((Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json").read_text())
NEEDS_ZOO = pytest.mark.skipif(
    not {"nipple-lite", "single-lite"} <= {m["name"] for m in ZOO["models"]},
    reason="the shipped zoo lacks the models the analysis needs",
)
WAIT_MS = 60_000
PATIENTS = {"first": ("PACS-0001", "20260310"), "second": ("PACS-0002", "20250902")}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    """Orthanc holding two four-view studies (``study_uids`` by name)."""
    missing = orthanc_missing()
    if missing:
        pytest.skip(missing)
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        server.study_uids = {}
        for name, (patient_id, date) in PATIENTS.items():
            patient = factory.Patient(patient_id=patient_id, study_date=date)
            server.study_uids[name] = server.upload_study(tmp_path_factory.mktemp(f"pacs-{name}"), patient)
        yield server


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The login from the environment, as a site gives it; the cache under the test's folder."""
    return use_test_login(monkeypatch, tmp_path / "cache")


@pytest.fixture(autouse=True)
def qsettings_in_tmp(tmp_path: Path) -> Path:
    """QSettings("MommiSlicer", "Reader") written under the test's folder, never the user's."""
    folder = tmp_path / "qsettings"
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Record message boxes instead of blocking on them (a PACS error belongs in the dialog, not in a box)."""
    seen: list[tuple[str, str, str]] = []
    for kind in ("critical", "warning", "information", "question"):
        monkeypatch.setattr(
            QMessageBox, kind, lambda parent, title, text, *a, kind=kind, **k: seen.append((kind, title, text))
        )
    return seen


def new_window(qtbot, tmp_path: Path) -> tuple[MainWindow, ReviewStore]:  # noqa: ANN001
    store = open_store(tmp_path / "review.sqlite")
    window = MainWindow(
        store, ReaderSettings(), ReaderOptions(reader="dr-pacs", device="cpu", results=tmp_path / "results")
    )
    window.show()
    qtbot.waitExposed(window)
    return window, store


@pytest.fixture
def window(qtbot, tmp_path: Path):  # noqa: ANN001, ANN201
    window, store = new_window(qtbot, tmp_path)
    qtbot.addWidget(window)
    yield window
    window.close()
    store.close()


def search(qtbot, dialog: PacsDialog, server: str, patient: str = "", since: str = "") -> None:  # noqa: ANN001
    dialog.server.setCurrentText(server)
    dialog.patient.setText(patient)
    dialog.use_since.setChecked(bool(since))
    if since:
        dialog.since.setDate(QDate.fromString(since, "yyyy-MM-dd"))
    dialog.search_button.click()
    assert dialog.busy
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT_MS)


def column(dialog: PacsDialog, index: int) -> list[str]:
    return [dialog.table.item(row, index).text() for row in range(dialog.table.rowCount())]


def retrieve(qtbot, window: MainWindow, patient_id: str) -> tuple[str, str, str]:  # noqa: ANN001
    """Retrieve the listed study of ``patient_id``; wait until the main window has analysed it."""
    dialog = window.pacs_dialog
    dialog.table.selectRow(column(dialog, 1).index(patient_id))
    with qtbot.waitSignal(dialog.retrieved, timeout=WAIT_MS) as blocker:
        dialog.retrieve_button.click()
    folder, url, server = blocker.args
    uid = url.rsplit("/", 1)[-1]
    qtbot.waitUntil(
        lambda: (
            window.controller.session is not None
            and window.controller.session.study_uid == uid
            and not window.four_view.busy
        ),
        timeout=WAIT_MS,
    )
    return folder, url, server


def threads_of(dialog: PacsDialog) -> list[PacsCall]:
    return dialog.findChildren(PacsCall)


# ----------------------------------------------------------------------------- tests
def test_open_from_pacs_is_in_the_file_menu_on_its_own_key(qtbot, window) -> None:  # noqa: ANN001
    keys = [key for shortcut in SHORTCUTS for key in shortcut.keys]
    assert len(keys) == len(set(keys)), "two actions share a key"
    action = window.actions_by_name["open_pacs"]
    assert action.text() == "Open from PACS... (search a server, retrieve a study)"
    assert action.shortcut().toString() == "Ctrl+Shift+P"
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    assert action in file_menu.actions()
    window.activateWindow()
    QApplication.setActiveWindow(window)
    QTest.keyClick(window, Qt.Key_P, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.pacs_dialog is not None and window.pacs_dialog.isVisible()
    assert window.show_pacs() is window.pacs_dialog  # one dialog per window: its results stay


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_search_lists_the_studies(qtbot, window, orthanc, protocol: str, dialogs) -> None:  # noqa: ANN001
    dialog = window.show_pacs()
    server = getattr(orthanc, protocol)
    search(qtbot, dialog, server)
    assert column(dialog, 1) == ["PACS-0001", "PACS-0002"]  # newest first
    assert column(dialog, 0) == ["2026-03-10", "2025-09-02"]
    assert column(dialog, 4) == ["4", "4"]
    assert [s.study_uid for s in dialog.studies] == [orthanc.study_uids["first"], orthanc.study_uids["second"]]
    assert dialog.message.text() == f"2 mammography studies on {server}"
    assert dialog.retrieve_button.isEnabled() and dialog.table.currentRow() == 0

    search(qtbot, dialog, server, patient="PACS-0002")
    assert column(dialog, 1) == ["PACS-0002"]
    search(qtbot, dialog, server, since="2026-01-01")
    assert column(dialog, 1) == ["PACS-0001"]
    search(qtbot, dialog, server, patient="SOMEONE-ELSE")
    assert dialog.table.rowCount() == 0 and not dialog.retrieve_button.isEnabled()
    assert dialog.message.text() == f"No matching study on {server}."
    assert dialogs == []


@NEEDS_ZOO
def test_retrieve_and_open_adds_each_study_to_the_worklist(qtbot, window, orthanc, credentials, dialogs) -> None:  # noqa: ANN001
    dialog = window.show_pacs()
    search(qtbot, dialog, orthanc.dicomweb)
    folder, url, server = retrieve(qtbot, window, "PACS-0001")
    first = orthanc.study_uids["first"]
    assert url == f"{orthanc.dicomweb}/studies/{first}" and server == orthanc.dicomweb
    assert Path(folder) == credentials / first and len(list(Path(folder).glob("*.dcm"))) == 4
    assert dialog.message.text() == "4 instances received; the study opens in the reader."  # the progress
    assert not dialog.isVisible()
    # the four views are up and analysed, as for a local folder
    layout = window.four_view.layout()
    cells = {view: layout.getItemPosition(layout.indexOf(c))[:2] for view, c in window.four_view.canvases.items()}
    assert cells == {"R-CC": (0, 0), "L-CC": (0, 1), "R-MLO": (1, 0), "L-MLO": (1, 1)}
    assert all(canvas.image is not None for canvas in window.four_view.canvases.values())
    assert window.loaded.study_uid == first and window.outcome is not None
    worklist = window.worklist
    assert [e.study_uid for e in worklist.entries] == [first] and worklist.origins == [orthanc.dicomweb]
    assert worklist.table.item(0, 4).text() == f"127.0.0.1:{orthanc.http_port}"
    assert not worklist.table.isColumnHidden(4) and not window.worklist_dock.isVisible()
    assert window.settings.get("last_folder") == ""  # the cache is not where the reader browses from

    # a second study, through DIMSE: added to the worklist, not replacing the first
    assert window.show_pacs() is dialog and dialog.table.rowCount() == 2  # the PACS worklist was kept
    search(qtbot, dialog, orthanc.dimse)
    retrieve(qtbot, window, "PACS-0002")
    second = orthanc.study_uids["second"]
    assert [e.study_uid for e in worklist.entries] == [first, second]
    assert worklist.origins == [orthanc.dicomweb, orthanc.dimse] and worklist.current == 1
    assert worklist.table.item(1, 4).text() == f"ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    assert window.worklist_dock.isVisible()

    # the first again: opened where it is listed, not listed twice
    window.show_pacs()
    retrieve(qtbot, window, "PACS-0001")
    assert [e.study_uid for e in worklist.entries] == [first, second] and worklist.current == 0
    assert window.outcome.from_saved
    assert dialogs == []


def test_a_refused_server_is_an_error_in_the_dialog(qtbot, window, orthanc, dialogs) -> None:  # noqa: ANN001
    dialog = window.show_pacs()
    refused = f"http://127.0.0.1:{free_port()}/dicom-web"
    search(qtbot, dialog, refused)
    assert dialog.message.text().startswith(f"{refused}: searching for studies")
    assert "connection refused" in dialog.message.text()
    assert dialog.search_button.isEnabled() and not dialog.progress.isVisible() and dialog.isVisible()
    unanswered = f"dimse://ORTHANC@127.0.0.1:{free_port()}"
    search(qtbot, dialog, unanswered)
    assert dialog.message.text().startswith(f"{unanswered}: no answer (refused or unreachable")
    search(qtbot, dialog, "pacs.example.org")
    assert "neither a DICOMweb base URL" in dialog.message.text()

    # a login typed into the address is refused before anything is sent or remembered
    dialog.server.setCurrentText(f"http://{USER}:{PASSWORD}@127.0.0.1:{orthanc.http_port}/dicom-web")
    dialog.search_button.click()
    assert not dialog.busy and dialog.message.text().startswith("Leave the login out of the address")

    search(qtbot, dialog, orthanc.dicomweb)  # still usable
    assert dialog.table.rowCount() == 2
    assert window.settings.get("pacs_servers") == [orthanc.dicomweb]  # only the one that answered
    assert dialogs == []


def test_the_servers_searched_are_remembered(qtbot, tmp_path, orthanc, qsettings_in_tmp) -> None:  # noqa: ANN001
    window, store = new_window(qtbot, tmp_path)
    dialog = window.show_pacs()
    assert dialog.server.count() == 0
    search(qtbot, dialog, orthanc.dicomweb)
    search(qtbot, dialog, orthanc.dimse)
    search(qtbot, dialog, orthanc.dicomweb)
    assert window.settings.get("pacs_servers") == [orthanc.dicomweb, orthanc.dimse]
    window.close()
    store.close()
    ini = next(qsettings_in_tmp.rglob("Reader.ini")).read_text()
    assert f"pacs_servers={orthanc.dicomweb}, {orthanc.dimse}" in ini
    assert PASSWORD not in ini

    again, store = new_window(qtbot, tmp_path)
    qtbot.addWidget(again)
    dialog = again.show_pacs()
    assert [dialog.server.itemText(i) for i in range(dialog.server.count())] == [orthanc.dicomweb, orthanc.dimse]
    assert dialog.server.currentText() == orthanc.dicomweb
    again.close()
    store.close()


def test_a_list_setting_takes_only_strings(tmp_path) -> None:  # noqa: ANN001
    settings = ReaderSettings()
    assert settings.get("pacs_servers") == []
    with pytest.raises(TypeError, match="list of strings"):
        settings.set("pacs_servers", "http://pacs/dicom-web")  # would otherwise be stored letter by letter
    settings.set("pacs_servers", ["dimse://PACS@pacs:104"])
    settings.sync()
    assert "pacs_servers=dimse://PACS@pacs:104\n" in Path(settings.path).read_text()  # readable, not a variant
    edited = tmp_path / "edited.ini"  # by hand: QSettings cannot read one plain value as a list
    edited.write_text("[General]\npacs_servers=http://pacs/dicom-web\n")
    assert ReaderSettings(QSettings(str(edited), QSettings.IniFormat)).get("pacs_servers") == ["http://pacs/dicom-web"]


def test_closing_while_a_request_runs(qtbot, tmp_path, orthanc, dialogs) -> None:  # noqa: ANN001
    window, store = new_window(qtbot, tmp_path)
    dialog = window.show_pacs()
    dialog.server.setCurrentText(orthanc.dicomweb)
    dialog.search_button.click()
    assert dialog.busy and dialog.cancel_button.isEnabled() and not dialog.search_button.isEnabled()
    dialog.close_button.click()  # while the search runs
    assert not dialog.isVisible() and not dialog.busy
    qtbot.waitUntil(lambda: not threads_of(dialog), timeout=WAIT_MS)
    assert dialog.table.rowCount() == 0 and dialog.message.text() == f"Searching {orthanc.dicomweb}..."

    # open again: usable; a retrieve cancelled at once opens nothing
    assert window.show_pacs() is dialog and dialog.search_button.isEnabled()
    search(qtbot, dialog, orthanc.dicomweb)
    opened: list[tuple[str, ...]] = []
    dialog.retrieved.connect(lambda *args: opened.append(args))
    dialog.retrieve_button.click()
    assert dialog.busy
    dialog.cancel_button.click()
    assert not dialog.busy and dialog.message.text() == "Cancelled." and dialog.isVisible()
    qtbot.waitUntil(lambda: not threads_of(dialog), timeout=WAIT_MS)
    assert opened == [] and window.loaded is None and window.worklist.entries == []

    # the window closed while a search hangs waits for it: no thread outlives the dialog that owns it. The PACS
    # takes the connection and never answers until, a second later, it goes away (its socket is closed).
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(4)
        search_hangs = f"dimse://PACS@127.0.0.1:{hanging.getsockname()[1]}"
        dialog.server.setCurrentText(search_hangs)
        dialog.search_button.click()
        assert dialog.busy and threads_of(dialog)
        threading.Timer(1.0, hanging.close).start()
        window.close()
    assert threads_of(dialog) and all(call.isFinished() for call in threads_of(dialog))
    store.close()
    window.deleteLater()
    qtbot.wait(10)  # deletes the window, its dialog and their threads
    assert dialogs == []
