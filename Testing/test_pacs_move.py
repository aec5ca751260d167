"""C-MOVE and broken-off retrieves (#19), against a real Orthanc; no mocks of the network.

C-MOVE: a PACS that allows only C-MOVE sends the images over an association of its own to a storage SCP of
ours, so the URL carries our listening port (``dimse://AET@host:port/studies/UID?move=PORT``) and the PACS must
know our AE title as a modality; an Orthanc that does not, or a port already taken, is a clean error.

A server stopped mid-retrieve (its process killed after the first instance arrived, through the progress
callback) is a PacsError that says the retrieve was interrupted and how far it got, for WADO-RS, C-GET and
C-MOVE alike; ``mommi analyze`` exits 1 without a traceback or a result, nothing of the attempt stays in the
cache, and the next analyze of the same URL, with the server back, retrieves the whole study and succeeds.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

import dicom_factory as factory
from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.pacs import dicomweb, source
from mommi.pacs.dicomweb import PacsError
from mommi.pacs.dimse import DimseNode
from orthanc_server import Orthanc, free_port, orthanc_missing, running_orthanc, use_test_login

OUR_AET = "MOMMISLICER"


def _skip_without_orthanc() -> None:
    missing = orthanc_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture(scope="module")
def move_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, move_port: int) -> Iterator[Orthanc]:
    """An Orthanc that knows our storage SCP (MOMMISLICER at 127.0.0.1:move_port) as a move destination."""
    _skip_without_orthanc()
    modalities: dict[str, list[str | int]] = {"mommi": [OUR_AET, "127.0.0.1", move_port]}
    with running_orthanc(tmp_path_factory.mktemp("orthanc-move"), modalities) as server:
        patient = factory.Patient(patient_id="MOVE-0001", study_date="20260311")
        server.study_uid = server.upload_study(tmp_path_factory.mktemp("move-study"), patient)
        yield server


@pytest.fixture
def pacs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Credentials, a cache of the test's own, and the C-MOVE SCP on 127.0.0.1 only; the cache."""
    monkeypatch.setenv("MOMMI_PACS_LISTEN", "127.0.0.1")
    monkeypatch.delenv("MOMMI_PACS_AET", raising=False)
    return use_test_login(monkeypatch, tmp_path / "cache")


def _analyze(url: str, out: Path) -> int:
    return main(["analyze", url, "--out", str(out), "--device", "cpu"])


def _cached_files(cache: Path, study_uid: str) -> list[str]:
    return sorted(p.name for p in (cache / study_uid).iterdir()) if (cache / study_uid).is_dir() else []


def test_move_option_is_parsed_and_checked() -> None:
    node, study = DimseNode.parse("dimse://ORTHANC@pacs:4242/studies/1.2.3?move=11113")
    assert (node, study) == (DimseNode("ORTHANC", "pacs", 4242, 11113), "1.2.3")
    assert DimseNode.parse("dimse://ORTHANC@pacs:4242?move=11113")[0].move_port == 11113
    assert DimseNode.parse("dimse://ORTHANC@pacs:4242/studies/1.2.3/")[0].move_port is None  # C-GET
    for bad, says in [
        ("dimse://ORTHANC@pacs:4242?move=0", "from 1 to 65535"),
        ("dimse://ORTHANC@pacs:4242?move=70000", "from 1 to 65535"),
        ("dimse://ORTHANC@pacs:4242?move=", "from 1 to 65535"),
        ("dimse://ORTHANC@pacs:4242?move=x1", "from 1 to 65535"),
        ("dimse://ORTHANC@pacs:99999", "from 1 to 65535"),
        ("dimse://ORTHANC@pacs:4242?retrieve=move", "unknown option 'retrieve'"),
    ]:
        with pytest.raises(PacsError, match=says):
            DimseNode.parse(bad)
    # the study addresses `pacs find` prints keep the server's option where it still applies
    assert source.study_url("dimse://A@h:1?move=2", "1.2") == "dimse://A@h:1/studies/1.2?move=2"
    assert source.study_url("http://pacs/dicom-web/", "1.2") == "http://pacs/dicom-web/studies/1.2"


def test_c_move_round_trip(
    orthanc: Orthanc, move_port: int, pacs_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"{orthanc.dimse}?move={move_port}"
    assert main(["pacs", "find", server, "--json"]) == exit_codes.OK
    assert [s["study_uid"] for s in json.loads(capsys.readouterr().out)] == [orthanc.study_uid]
    assert _analyze(f"{orthanc.dimse}/studies/{orthanc.study_uid}?move={move_port}", tmp_path / "out") == exit_codes.OK
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["study_uid"] == orthanc.study_uid and len(result["views"]) == 4
    assert len(_cached_files(pacs_env, orthanc.study_uid)) == 4
    assert not [p.name for p in pacs_env.iterdir() if p.name.startswith(".")]  # no partial folder left over


def test_c_move_to_an_unknown_destination_is_named(
    orthanc: Orthanc,
    move_port: int,
    pacs_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MOMMI_PACS_AET", "STRANGER")  # Orthanc knows MOMMISLICER only
    url = f"{orthanc.dimse}/studies/{orthanc.study_uid}?move={free_port()}"
    assert _analyze(url, tmp_path / "out") == exit_codes.PROBLEMS
    err = capsys.readouterr().err
    assert "the PACS does not know STRANGER as a move destination (add it to its modalities" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "result.json").exists()
    assert not pacs_env.exists() or not any(pacs_env.iterdir())


def test_c_move_port_taken_is_named(
    orthanc: Orthanc, pacs_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _analyze(f"{orthanc.dimse}/studies/{orthanc.study_uid}?move={port}", tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert f"cannot listen on port {port}" in err and "Traceback" not in err, err


class _Stopped(Exception):
    """What a caller's progress callback raises to stop a retrieve (the reader's dialog, closed)."""


@pytest.mark.parametrize("method", ["c-get", "c-move"])
def test_a_retrieve_stopped_by_its_caller(orthanc: Orthanc, move_port: int, pacs_env: Path, method: str) -> None:
    """An exception from the progress callback ends a DIMSE retrieve in the caller's thread, as it does over
    DICOMweb (pynetdicom would otherwise log it and go on), and nothing of the attempt stays in the cache."""
    url = f"{orthanc.dimse}/studies/{orthanc.study_uid}" + (f"?move={move_port}" if method == "c-move" else "")
    seen: list[int] = []

    def stop_at_the_first(count: int) -> None:
        seen.append(count)
        raise _Stopped

    with pytest.raises(_Stopped):
        source.retrieve(url, pacs_env, stop_at_the_first)
    assert seen == [1]
    assert [p.name for p in pacs_env.iterdir()] == []


def _stop(server: Orthanc) -> None:
    server.process.kill()
    server.process.wait(timeout=15)


@pytest.mark.parametrize("protocol", ["dicomweb", "c-get", "c-move"])
def test_a_server_stopped_mid_retrieve(
    protocol: str, pacs_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _skip_without_orthanc()
    folder = tmp_path / "orthanc"
    folder.mkdir()
    port = free_port()
    modalities: dict[str, list[str | int]] = {"mommi": [OUR_AET, "127.0.0.1", port]}
    patient = factory.Patient(patient_id="STOP-0001")
    study = factory.four_view_study(tmp_path / "study", patient)
    uid = patient.study_uid
    real_retrieve = source.retrieve

    def url_of(server: Orthanc) -> str:
        if protocol == "dicomweb":
            return f"{server.dicomweb}/studies/{uid}"
        return f"{server.dimse}/studies/{uid}" + (f"?move={port}" if protocol == "c-move" else "")

    with running_orthanc(folder, modalities) as server:
        server.upload(*study.values())
        url, ports = url_of(server), (server.http_port, server.dicom_port)

        def retrieve_stopping_the_server(
            url: str, cache: Path | None = None, progress: Callable[[int], None] | None = None
        ) -> Path:
            """The real retrieve, whose progress callback (called once an instance is saved) kills the server
            after the first: the process is gone before the next instance can be sent."""

            def progress_then_stop(count: int) -> None:
                if progress is not None:
                    progress(count)
                if count == 1:
                    _stop(server)

            return real_retrieve(url, cache, progress_then_stop)

        monkeypatch.setattr(source, "retrieve", retrieve_stopping_the_server)
        assert _analyze(url, tmp_path / "out") == exit_codes.PROBLEMS
        monkeypatch.setattr(source, "retrieve", real_retrieve)
        assert server.process.poll() is not None
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert "interrupted after 1 of its 4 mammograms arrived" in err, err
    assert "connection" in err and url.split("/studies/")[0].split("?")[0] in err, err
    assert not (tmp_path / "out" / "result.json").exists()
    # nothing of the attempt in the cache: no study folder that a later analysis could take for the study
    assert not (pacs_env / uid).exists()
    assert [p.name for p in pacs_env.iterdir()] == []

    # the server back on the same ports and storage: the same URL retrieves the whole study again
    with running_orthanc(folder, modalities, http_port=ports[0], dicom_port=ports[1]) as server:
        assert url_of(server) == url
        assert _analyze(url, tmp_path / "again") == exit_codes.OK
    result = json.loads((tmp_path / "again" / "result.json").read_text())
    assert result["study_uid"] == uid and len(result["views"]) == 4
    assert _cached_files(pacs_env, uid) == sorted(f"{pydicom.dcmread(p).SOPInstanceUID}.dcm" for p in study.values())


# --- an answer cut off in the middle, at the HTTP level ------------------------------------------------------
# Orthanc, killed, closes its sockets the one way the kernel does; these cover the other ways an answer breaks
# off (a chunked body, a body shorter than its Content-Length, a connection closed before any answer) with a
# real socket that sends what a dying server would: each is a PacsError saying the connection was lost.

_MULTIPART = b'multipart/related; type="application/dicom"; boundary=XXBOUNDARY'
_PART = b"--XXBOUNDARY\r\nContent-Type: application/dicom\r\n\r\n" + b"DICM" * 100


def _answer(kind: str) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: " + _MULTIPART + b"\r\n"
    if kind == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(_PART) + _PART + b"\r\n"
    if kind == "content-length":
        return head + b"Content-Length: 100000\r\n\r\n" + _PART
    return b""  # closed without answering


def _serve_once(answer: bytes) -> tuple[str, threading.Thread]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        with listener:
            listener.settimeout(30)
            for _ in range(1 + dicomweb.RETRIES):  # urllib3 retries a connection closed before any answer
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with connection:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += connection.recv(65536) or b"\r\n\r\n"
                    connection.sendall(answer)
                if answer:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/dicom-web", thread


@pytest.mark.parametrize("kind", ["chunked", "content-length", "no-answer"])
def test_an_answer_cut_off_is_a_lost_connection(kind: str) -> None:
    base, thread = _serve_once(_answer(kind))
    wado = dicomweb.client(base)
    with pytest.raises(PacsError) as caught:
        dicomweb._called(base, "retrieving study 1.2.3", lambda: list(wado.iter_series("1.2.3", "1.2.3.4")))
    thread.join(timeout=30)
    assert caught.value.url == base
    assert "retrieving study 1.2.3: the connection was lost" in caught.value.reason, caught.value.reason


def test_an_image_cut_short_is_not_saved_as_whole(tmp_path: Path) -> None:
    """A body delimited by closing the connection cannot tell a cut from an end: dicomweb-client hands over the
    last part as it is, pydicom reads it, and only the missing pixel data shows that the image is cut short."""
    path = factory.four_view_study(tmp_path)["R-CC"]
    whole = path.read_bytes()
    assert dicomweb.cut_short(pydicom.dcmread(io.BytesIO(whole))) is None
    half = pydicom.dcmread(io.BytesIO(whole[: len(whole) // 2]))
    assert "bytes of pixel data" in (dicomweb.cut_short(half) or "")
    assert dicomweb.cut_short(pydicom.dcmread(io.BytesIO(whole[:1000]))) == "no pixel data"
