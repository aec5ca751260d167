"""A real Orthanc with its DICOMweb plug-in for the PACS tests (#19): started on free ports of 127.0.0.1
with a temporary storage, HTTP basic authentication on, stopped after. Debian packages `orthanc` and
`orthanc-dicomweb` (`.ci/run` installs them); without them the tests that need a server are skipped."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import dicom_factory

PLUGINS = Path("/usr/share/orthanc/plugins")
USER, PASSWORD = "reader", "s3cret-for-tests"


def use_test_login(monkeypatch: pytest.MonkeyPatch, cache: Path) -> Path:
    """The tests' login from the environment, as a site gives it, and a PACS cache of the test's own."""
    monkeypatch.setenv("MOMMI_PACS_USER", USER)
    monkeypatch.setenv("MOMMI_PACS_PASSWORD", PASSWORD)
    monkeypatch.setenv("MOMMI_PACS_CACHE", str(cache))
    return cache


def orthanc_missing() -> str | None:
    """Why no Orthanc can be started here (None: it can)."""
    if shutil.which("Orthanc") is None:
        return "Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb; .ci/run does this)"
    if not (PLUGINS / "libOrthancDicomWeb.so").is_file():
        return f"the Orthanc DICOMweb plug-in is not in {PLUGINS} (Debian package orthanc-dicomweb)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


AET = "ORTHANC"


@dataclass
class Orthanc:
    http_port: int
    dicom_port: int
    process: subprocess.Popen

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    @property
    def dimse(self) -> str:
        return f"dimse://{AET}@127.0.0.1:{self.dicom_port}"

    def upload(self, *files: Path) -> None:
        """Store files through Orthanc's own REST API (not our DICOMweb code, which the tests check)."""
        for path in files:
            answer = requests.post(f"{self.root}/instances", data=path.read_bytes(), auth=(USER, PASSWORD), timeout=30)
            answer.raise_for_status()

    def upload_study(self, folder: Path, patient: dicom_factory.Patient) -> str:
        """A four-view study of ``patient`` written into ``folder`` and stored; its Study Instance UID."""
        self.upload(*dicom_factory.four_view_study(folder, patient).values())
        return patient.study_uid

    def instances_of(self, study_uid: str) -> list[dict]:
        """Every instance of the study with its SOP class, modality and UID (Orthanc's REST API)."""
        found = requests.post(
            f"{self.root}/tools/find",
            auth=(USER, PASSWORD),
            timeout=30,
            json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}, "Expand": True},
        )
        found.raise_for_status()
        rows = []
        for instance in found.json():
            tags = requests.get(
                f"{self.root}/instances/{instance['ID']}/simplified-tags", auth=(USER, PASSWORD), timeout=30
            ).json()
            rows.append({"sop_uid": tags.get("SOPInstanceUID"), "modality": tags.get("Modality")})
        return rows


@contextmanager
def running_orthanc(
    folder: Path,
    modalities: dict[str, list[str | int]] | None = None,
    http_port: int | None = None,
    dicom_port: int | None = None,
) -> Iterator[Orthanc]:
    """Orthanc on 127.0.0.1, storing into ``folder`` (started again on the same folder it still holds what
    was uploaded: with the same ports, the same URLs reach it). ``modalities`` are its DicomModalities,
    ``{"name": [AET, host, port]}``: the C-MOVE destinations it knows."""
    http_port, dicom_port = http_port or free_port(), dicom_port or free_port()
    config = {
        "Name": "MommiSlicerTests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,  # 127.0.0.1 only
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(PLUGINS)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "DicomAet": AET,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowFind": True,  # any calling AE may query and C-GET (no modality entry for each test AE)
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,  # any calling AE may C-MOVE, but only to a destination in DicomModalities
        "DicomModalities": modalities or {},
        "DicomAlwaysAllowStore": True,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = (folder / "orthanc.log").open("w")
    process = subprocess.Popen(["Orthanc", str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    server = Orthanc(http_port, dicom_port, process)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(f"{server.root}/system", auth=(USER, PASSWORD), timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"Orthanc did not start: {(folder / 'orthanc.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
