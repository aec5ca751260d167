"""The `mommi` command: help everywhere, JSON where scripts need it, meaningful exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dicom_factory as f
from mommi.cli import exit_codes
from mommi.cli.main import main


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("args", [[], ["info"], ["study"], ["study", "inspect"]])
def test_help_everywhere(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*args, "--help"])
    assert info.value.code == 0
    assert "usage: mommi" in capsys.readouterr().out


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["study"])
    assert info.value.code == exit_codes.USAGE


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "mommi"
    assert script.is_file(), "the `mommi` console script is missing: pip install -e . first"
    result = subprocess.run([str(script), "study", "inspect", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "exit codes" in result.stdout
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("mommislicer ")


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run("info", "--json", capsys=capsys)
    info = json.loads(out)
    assert info["onnxruntime"]["flavour"] in ("cpu", "gpu")
    cpu = [p for p in info["execution_providers"] if p["provider"] == "CPUExecutionProvider"]
    assert cpu and cpu[0]["works"]
    assert info["dicom_decoders"]["JPEG 2000 Image Compression (Lossless Only)"]
    assert info["model_zoo"]["zoo_version"] is not None
    assert code == (exit_codes.PROBLEMS if info["problems"] else exit_codes.OK)


def test_info_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run("info", capsys=capsys)
    assert "Execution providers" in out and "CPUExecutionProvider" in out
    assert "Model zoo" in out


def test_inspect_four_view_study(tmp_path: Path, patient: f.Patient, capsys: pytest.CaptureFixture[str]) -> None:
    f.four_view_study(tmp_path, patient, vendor="GE")
    code, out, _ = run("study", "inspect", str(tmp_path), capsys=capsys)
    assert code == exit_codes.OK
    for label in ("R-CC", "L-CC", "R-MLO", "L-MLO"):
        assert label in out
    assert "ImagerPixelSpacing (0018,1164)" in out and "MONOCHROME1" in out
    assert "FOR PRESENTATION" in out
    assert "1 study, 4 views" in out


def test_inspect_json_reports_errors_and_exit_1(
    tmp_path: Path, patient: f.Patient, capsys: pytest.CaptureFixture[str]
) -> None:
    f.four_view_study(tmp_path, patient)
    f.write(f.mammogram(patient, "L", "CC", vendor="GE", intent="FOR PROCESSING"), tmp_path / "raw.dcm")
    (tmp_path / "broken.dcm").write_bytes(b"garbage" * 20)
    code, out, _ = run("study", "inspect", "--json", str(tmp_path), capsys=capsys)
    report = json.loads(out)
    assert code == exit_codes.PROBLEMS
    study = report["studies"][0]
    assert set(study["views"]) == {"R-CC", "L-CC", "R-MLO", "L-MLO"}
    view = study["views"]["L-CC"]
    assert view["pixel_spacing"] == {"row_mm": 0.065, "col_mm": 0.065, "source": "PixelSpacing (0028,0030)"}
    assert view["photometric_interpretation"] == "MONOCHROME2"
    assert view["presentation_intent"] == "FOR PRESENTATION"
    assert [s["reason"] for s in study["set_aside"]] == ["FOR PROCESSING image (raw data), not for reading"]
    assert report["errors"][0]["code"] == "not_dicom" and report["errors"][0]["path"].endswith("broken.dcm")
    assert report["counts"] == {"studies": 1, "views": 4, "set_aside": 1, "errors": 1, "ignored": 0}


def test_inspect_nothing_found_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run("study", "inspect", str(tmp_path), capsys=capsys)
    assert code == exit_codes.NOTHING_FOUND
    assert "holds no image files" in out


def test_inspect_bad_files_only_never_shows_a_traceback(
    tmp_path: Path, patient: f.Patient, capsys: pytest.CaptureFixture[str]
) -> None:
    f.write(f.ct_slice(patient), tmp_path / "ct.dcm")
    (tmp_path / "x.dcm").write_bytes(b"")
    code, out, err = run("study", "inspect", str(tmp_path), capsys=capsys)
    assert code == exit_codes.NOTHING_FOUND
    assert "not a mammogram" in out and "Traceback" not in out + err


def test_a_reader_that_stops_reading_is_not_an_internal_error(tmp_path: Path) -> None:
    """`mommi study inspect DIR | head`: the pipe closes before mommi writes; exit 141 (128 + SIGPIPE, what a
    shell reports), no "internal error", no traceback."""
    from mommi.data.synth import synthesize

    (study,) = synthesize(tmp_path / "s", 1, seed=1)
    process = subprocess.Popen(
        [sys.executable, "-m", "mommi.cli.main", "study", "inspect", str(study)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader goes away before a byte is written
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == exit_codes.BROKEN_PIPE, error
    assert "internal error" not in error and "Traceback" not in error
