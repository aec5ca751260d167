"""Studies from a PACS and results back to it (#19), against a real Orthanc with DICOMweb: `mommi pacs find`
lists the study, `mommi analyze URL/studies/UID --send` analyses it and stores one SEG per view and the SR
into the same study, a second send replaces rather than duplicates, and refused, unauthorised, unknown and
malformed requests are clean errors naming the server and the cause."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dicom_factory as factory
from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.pacs.dicomweb import PacsError, StudyLocation
from orthanc_server import free_port, orthanc_missing, running_orthanc, use_test_login


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory):
    missing = orthanc_missing()
    if missing:
        pytest.skip(missing)
    with running_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        patient = factory.Patient(patient_id="PACS-0001", study_date="20260310")
        server.study_uid = server.upload_study(tmp_path_factory.mktemp("pacs-study"), patient)
        yield server


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_test_login(monkeypatch, tmp_path / "cache")


def test_find_lists_the_mammography_study(orthanc, credentials, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", orthanc.dicomweb, "--json"]) == exit_codes.OK
    studies = json.loads(capsys.readouterr().out)
    assert [s["study_uid"] for s in studies] == [orthanc.study_uid]
    assert studies[0]["patient_id"] == "PACS-0001" and studies[0]["instances"] == 4
    assert main(["pacs", "find", orthanc.dicomweb, "--patient", "SOMEONE-ELSE", "--json"]) == exit_codes.OK
    assert json.loads(capsys.readouterr().out) == []
    assert main(["pacs", "find", orthanc.dicomweb, "--since", "2026-06-01", "--json"]) == exit_codes.OK
    assert json.loads(capsys.readouterr().out) == []


def test_analyze_a_pacs_study_and_send_the_results_back_once(orthanc, credentials, tmp_path: Path) -> None:
    url = f"{orthanc.dicomweb}/studies/{orthanc.study_uid}"
    assert main(["analyze", url, "--out", str(tmp_path / "out"), "--device", "cpu", "--send"]) == exit_codes.OK
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["study_uid"] == orthanc.study_uid and len(result["views"]) == 4
    held = orthanc.instances_of(orthanc.study_uid)
    modalities = sorted(i["modality"] for i in held)
    assert modalities == ["MG"] * 4 + ["SEG"] * 4 + ["SR"]
    # the same result sent again replaces its own objects: nothing is added
    assert main(["analyze", url, "--out", str(tmp_path / "again"), "--device", "cpu", "--send"]) == exit_codes.OK
    again = orthanc.instances_of(orthanc.study_uid)
    assert sorted(i["sop_uid"] for i in again) == sorted(i["sop_uid"] for i in held)


def test_dimse_find_get_and_store(orthanc, credentials, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same through DIMSE, for a PACS without DICOMweb: C-FIND lists, C-GET retrieves, C-STORE sends back."""
    assert main(["pacs", "find", orthanc.dimse, "--json"]) == exit_codes.OK
    assert [s["study_uid"] for s in json.loads(capsys.readouterr().out)] == [orthanc.study_uid]
    url = f"{orthanc.dimse}/studies/{orthanc.study_uid}"
    assert main(["analyze", url, "--out", str(tmp_path / "out"), "--device", "cpu", "--send"]) == exit_codes.OK
    assert json.loads((tmp_path / "out" / "result.json").read_text())["study_uid"] == orthanc.study_uid
    modalities = sorted(i["modality"] for i in orthanc.instances_of(orthanc.study_uid))
    assert modalities == ["MG"] * 4 + ["SEG"] * 4 + ["SR"]  # whichever protocol sent first, nothing doubled


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("wrong-password", "HTTP 401"),
        ("unknown-study", "has no mammograms"),
        ("refused", "connection refused"),
        ("dimse-refused", "no answer (refused or unreachable"),
    ],
)
def test_pacs_failures_are_named(
    orthanc,
    credentials,
    case: str,
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"{orthanc.dicomweb}/studies/{orthanc.study_uid}"
    if case == "wrong-password":
        monkeypatch.setenv("MOMMI_PACS_PASSWORD", "wrong")
    elif case == "unknown-study":
        url = f"{orthanc.dicomweb}/studies/1.2.3.4.5.6.7.8.9.999"
    elif case == "refused":
        url = f"http://127.0.0.1:{free_port()}/dicom-web/studies/{orthanc.study_uid}"
    else:
        url = f"dimse://ORTHANC@127.0.0.1:{free_port()}/studies/{orthanc.study_uid}"
    assert main(["analyze", url, "--out", str(tmp_path / "out"), "--device", "cpu"]) == exit_codes.PROBLEMS
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "result.json").exists()


def test_a_study_url_must_carry_a_study_uid() -> None:
    with pytest.raises(PacsError, match="not a DICOM Study Instance UID"):
        StudyLocation.parse("http://pacs/dicom-web/studies/..%2F..%2Fetc")
    with pytest.raises(PacsError, match="URL>/studies/<StudyInstanceUID>"):
        StudyLocation.parse("http://pacs/dicom-web/patients/1")
    assert StudyLocation.parse("https://pacs:8042/dicom-web/studies/1.2.3/") == StudyLocation(
        "https://pacs:8042/dicom-web", "1.2.3"
    )


def test_send_needs_a_pacs_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study"
    factory.four_view_study(study)
    assert main(["analyze", str(study), "--out", str(tmp_path / "out"), "--send"]) == exit_codes.USAGE
    assert "--send stores" in capsys.readouterr().err


def test_credentials_come_from_the_environment_or_the_settings_file(tmp_path: Path) -> None:
    from requests.auth import HTTPBasicAuth

    from mommi.pacs.credentials import BearerToken, auth_for

    assert isinstance(auth_for("http://pacs", {"MOMMI_PACS_TOKEN": "t"}), BearerToken)
    basic = auth_for("http://pacs", {"MOMMI_PACS_USER": "u", "MOMMI_PACS_PASSWORD": "p"})
    assert isinstance(basic, HTTPBasicAuth) and (basic.username, basic.password) == ("u", "p")
    config = tmp_path / "config"
    (config / "mommislicer").mkdir(parents=True)
    (config / "mommislicer" / "settings.json").write_text(json.dumps({"pacs": {"https://pacs.site": {"token": "x"}}}))
    env = {"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path)}
    token = auth_for("https://pacs.site/dicom-web", env)
    assert isinstance(token, BearerToken) and token.token == "x"
    assert auth_for("https://elsewhere/dicom-web", env) is None
