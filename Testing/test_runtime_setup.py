"""ONNX Runtime flavour, real provider probes, and the model zoo manifest check."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

import pytest

from mommi.runtime import providers
from mommi.runtime.probe_model import build_probe_model, probe_model_bytes
from mommi.runtime.zoo import default_manifest_path, zoo_status


def test_installed_flavour_is_exactly_one() -> None:
    flavour = providers.detect_flavour()
    assert flavour.problem is None
    assert flavour.name in ("cpu", "gpu") and len(flavour.distributions) == 1


def _fake_versions(installed: dict[str, str]):
    def version(name: str) -> str:
        if name in installed:
            return installed[name]
        raise metadata.PackageNotFoundError(name)

    return version


def test_neither_flavour_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers.metadata, "version", _fake_versions({}))
    flavour = providers.detect_flavour()
    assert flavour.name is None and "mommislicer[cpu]" in flavour.problem and "mommislicer[gpu]" in flavour.problem
    with pytest.raises(providers.RuntimeSetupError, match=r"mommislicer\[cpu\]"):
        providers.require_onnxruntime()


def test_both_flavours_is_a_broken_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        providers.metadata, "version", _fake_versions({"onnxruntime": "1.20", "onnxruntime-gpu": "1.20"})
    )
    flavour = providers.detect_flavour()
    assert flavour.name is None and "pip uninstall -y onnxruntime onnxruntime-gpu" in flavour.problem


def test_cpu_provider_really_runs() -> None:
    probes = {p.provider: p for p in providers.probe_providers()}
    assert probes["CPUExecutionProvider"].works
    for name in providers.NOT_PROBED:
        if name in probes:
            assert not probes[name].works


def test_a_provider_that_is_not_there_is_reported_as_not_working() -> None:
    ort = providers.require_onnxruntime()
    probe = providers._probe(ort, "CUDAExecutionProvider")
    if "CUDAExecutionProvider" in ort.get_available_providers() and probe.works:
        pytest.skip("this machine really has a working CUDA provider")
    assert not probe.works and probe.detail


def test_probe_model_matches_its_build_script() -> None:
    assert probe_model_bytes() == build_probe_model()


def _zoo(tmp_path: Path, content: bytes, recorded: bytes | None = None) -> Path:
    (tmp_path / "m.onnx").write_bytes(content)
    manifest = {
        "schema_version": 1,
        "zoo_version": "9.9.9",
        "models": [
            {
                "name": "m",
                "file": "m.onnx",
                "sha256": hashlib.sha256(recorded if recorded is not None else content).hexdigest(),
            }
        ],
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_zoo_with_intact_model(tmp_path: Path) -> None:
    status = zoo_status(_zoo(tmp_path, b"model bytes"))
    assert status.ok and status.zoo_version == "9.9.9" and status.models[0].ok


def test_zoo_tampered_model_is_named(tmp_path: Path) -> None:
    status = zoo_status(_zoo(tmp_path, b"tampered", recorded=b"original"))
    assert not status.ok and "model m: m.onnx does not match its SHA-256" in status.problems[0]


def test_zoo_missing_model_is_named(tmp_path: Path) -> None:
    manifest = _zoo(tmp_path, b"x")
    (tmp_path / "m.onnx").unlink()
    assert zoo_status(manifest).problems == ["model m: file m.onnx is missing"]


def test_zoo_location_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOMMI_MODEL_ZOO", str(tmp_path))
    assert default_manifest_path() == tmp_path / "manifest.json"
    assert "no model zoo manifest" in zoo_status().problems[0]


def test_shipped_zoo_manifest_is_consistent() -> None:
    status = zoo_status(Path(__file__).resolve().parents[1] / "model_zoo" / "manifest.json")
    assert status.ok, status.problems


def test_a_card_that_describes_another_file_is_a_problem(tmp_path: Path) -> None:
    """A model exported again keeps its old card (old hash, old metrics) unless the card is regenerated:
    `mommi info` must not say "No problems found" then (#23)."""
    from zoo_copies import copy_zoo

    manifest = copy_zoo(tmp_path / "zoo", cards=True)
    assert zoo_status(manifest).problems == []
    card = tmp_path / "zoo" / "cards" / "single-lite.md"
    data = json.loads(manifest.read_text())
    shipped = next(m for m in data["models"] if m["name"] == "single-lite")["sha256"]
    card.write_text(card.read_text().replace(shipped, "0" * 64))
    problems = zoo_status(manifest).problems
    assert len(problems) == 1 and "single-lite" in problems[0] and "describes another file" in problems[0]
    card.unlink()
    assert zoo_status(manifest).problems == ["model single-lite: its card cards/single-lite.md is missing"]


def test_a_model_exported_again_is_checked_against_the_card_left_in_its_place(tmp_path: Path) -> None:
    """`mommi export` writes a new entry without a card; the old cards/<name>.md is still there for anyone to
    read, with the old hash and metrics, so `mommi info` checks it (#23)."""
    from zoo_copies import copy_zoo

    def exported_again(data: dict) -> None:
        entry = next(m for m in data["models"] if m["name"] == "single-lite")
        entry["sha256"] = hashlib.sha256(b"fine-tuned").hexdigest()
        del entry["card"]

    manifest = copy_zoo(tmp_path / "zoo", exported_again, cards=True)
    (tmp_path / "zoo" / "single-lite.onnx").write_bytes(b"fine-tuned")
    problems = zoo_status(manifest).problems
    assert len(problems) == 1 and problems[0].startswith("model single-lite: its card cards/single-lite.md")
    assert "describes another file" in problems[0]
    (tmp_path / "zoo" / "cards" / "single-lite.md").unlink()  # no card at all: nothing stale to read
    assert zoo_status(manifest).problems == []


def test_a_card_whose_metrics_are_not_the_manifests_is_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model evaluated again keeps a card with the old numbers unless it is regenerated, and a card can be
    edited by hand: `mommi info --zoo` names the model, the card and the dataset whose numbers differ (#23)."""
    from mommi.cli import exit_codes
    from mommi.cli.main import main
    from zoo_copies import copy_zoo

    manifest = copy_zoo(tmp_path / "zoo", cards=True)
    assert main(["info", "--json", "--zoo", str(tmp_path / "zoo")]) in (exit_codes.OK, exit_codes.PROBLEMS)
    assert json.loads(capsys.readouterr().out)["model_zoo"]["problems"] == []  # the shipped cards agree
    card = tmp_path / "zoo" / "cards" / "single-lite.md"
    data = json.loads(manifest.read_text())
    recall = next(m for m in data["models"] if m["name"] == "single-lite")["metrics"]["synth-test"]["recall_at_fppi"]
    stated = f"{recall['1']['recall']:.3f} ("
    assert card.read_text().count(stated) == 1  # the synthetic test row of its own table, nowhere else
    card.write_text(card.read_text().replace(stated, "0.999 ("))
    main(["info", "--zoo", str(tmp_path / "zoo")])
    out = capsys.readouterr().out
    assert "No problems found" not in out
    assert (
        "model single-lite: its card cards/single-lite.md states other metrics than the manifest records for it "
        "(synth-test)" in out
    )

    # the other way round: the manifest's numbers changed (evaluated again), the card not regenerated
    copy_zoo(tmp_path / "zoo", cards=True)
    nipple = next(m for m in data["models"] if m["name"] == "nipple-lite")
    nipple["metrics"]["synth-test"]["nipple"]["median_mm"] += 0.5
    manifest.write_text(json.dumps(data))
    problems = zoo_status(manifest).problems
    assert problems == [
        "model nipple-lite: its card cards/nipple-lite.md states other metrics than the manifest records for it "
        "(synth-test); regenerate the card (mommi zoo record-metrics)"
    ]
    # and metrics the manifest no longer holds are named too: every data set the card states
    stated = sorted(nipple["metrics"])
    nipple["metrics"] = {}
    manifest.write_text(json.dumps(data))
    assert f"({', '.join(stated)})" in zoo_status(manifest).problems[0]
