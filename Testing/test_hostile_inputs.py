"""Hostile inputs (#18): declared sizes refused before decoding, wrong types in sidecars, images that
are not greyscale mammograms. Each case: a typed error naming the file and the cause, no traceback,
bounded memory (the declared size is checked before any allocation)."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

import dicom_factory as factory
from hostile_catalogue import _png_bomb
from zoo_copies import copy_zoo
from mommi.cli.main import main
from mommi.errors import SidecarError, UnsupportedImageError
from mommi.study.limits import MAX_IMAGE_PIXELS
from mommi.study.loader import load_studies
from mommi.study.raster import read_raster, read_sidecar


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width x height but carries almost no data (a decompression bomb's header), with a
    sidecar."""
    _png_bomb(path, width, height)
    (path.parent / f"{path.name}.json").write_text(json.dumps({"laterality": "L", "view": "CC"}))
    return path


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@pytest.mark.parametrize("side", [30000, 12000])
def test_png_declaring_too_many_pixels_is_refused_before_decoding(side: int, tmp_path: Path) -> None:
    path = _png_header_only(tmp_path / "bomb.png", side, side)
    before = _peak_rss_mb()
    with pytest.raises(UnsupportedImageError) as info:
        read_raster(path)
    assert info.value.path == path and "pixels" in info.value.reason
    assert _peak_rss_mb() - before < 200  # nothing of the declared 144-900 megapixels was allocated


def _dicom(tmp_path: Path, name: str, **changes: object) -> Path:
    ds = factory.mammogram(factory.Patient(), "L", "CC")
    for key, value in changes.items():
        setattr(ds, key, value)
    return factory.write(ds, tmp_path / name)


def test_dicom_declaring_a_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    ds = factory.mammogram(factory.Patient(), "L", "CC")
    path = factory.write(ds, tmp_path / "rle.dcm", RLELossless)
    import pydicom

    huge = pydicom.dcmread(path)
    huge.Rows, huge.Columns = 65535, 65535
    huge.save_as(path)
    before = _peak_rss_mb()
    collection = load_studies([path])
    assert not collection.studies
    (error,) = collection.errors
    assert isinstance(error, UnsupportedImageError) and error.path == path
    assert "65535 x 65535" in error.reason and f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels" in error.reason
    assert _peak_rss_mb() - before < 500


@pytest.mark.parametrize(
    ("changes", "cause"),
    [
        ({"BitsAllocated": 1, "BitsStored": 1, "HighBit": 0}, "BitsAllocated 1"),
        ({"NumberOfFrames": 3}, "multi-frame"),
        ({"Rows": 0}, "no pixels"),
    ],
)
def test_dicom_that_is_not_a_greyscale_2d_mammogram(changes: dict, cause: str, tmp_path: Path) -> None:
    path = _dicom(tmp_path, "odd.dcm", **changes)
    collection = load_studies([path])
    assert not collection.studies
    (error,) = collection.errors
    assert isinstance(error, UnsupportedImageError) and error.path == path and cause in error.reason


@pytest.mark.parametrize(
    "sidecar", [{"pixel_spacing_mm": True}, {"pixel_spacing_mm": [True, 0.1]}, {"bits_stored": True}]
)
def test_booleans_are_not_numbers_in_a_sidecar(sidecar: dict, tmp_path: Path) -> None:
    image = tmp_path / "v.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((40, 30), np.uint8))
    (tmp_path / "v.png.json").write_text(json.dumps({"laterality": "L", "view": "CC", **sidecar}))
    with pytest.raises(SidecarError) as info:
        read_sidecar(image)
    assert info.value.path == tmp_path / "v.png.json"


def test_study_inspect_names_the_bomb_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _png_header_only(tmp_path / "bomb.png", 30000, 30000)
    code = main(["study", "inspect", str(tmp_path)])
    out = capsys.readouterr()
    assert code != 70 and "bomb.png" in out.out + out.err and "Traceback" not in out.out + out.err


# --- the model zoo: confined paths, hashes required, the hashed bytes are the loaded bytes -----------------


def _zoo(tmp_path: Path) -> Path:
    return copy_zoo(tmp_path / "zoo")


def _edit(manifest: Path, name: str, **changes: object) -> None:
    data = json.loads(manifest.read_text())
    entry = next(m for m in data["models"] if m["name"] == name)
    for key, value in changes.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    manifest.write_text(json.dumps(data))


@pytest.mark.parametrize("where", ["../outside.onnx", "ABSOLUTE", "link.onnx"])
def test_zoo_entries_may_not_point_outside_the_zoo(where: str, tmp_path: Path) -> None:
    from mommi.runtime.sessions import load_model
    from mommi.runtime.zoo import ZooError, zoo_status

    manifest = _zoo(tmp_path)
    original = manifest.parent / "single-lite.onnx"
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(original.read_bytes())  # the real model, with its real hash, outside the zoo
    if where == "ABSOLUTE":
        where = str(outside)
    if where == "link.onnx":
        (manifest.parent / "link.onnx").symlink_to(outside)
    _edit(manifest, "single-lite", file=where)
    with pytest.raises(ZooError, match="outside the zoo folder"):
        load_model("single-lite", manifest, "cpu")
    assert any("outside the zoo folder" in p for p in zoo_status(manifest).problems)


def test_zoo_entry_without_a_hash_is_refused_not_loaded(tmp_path: Path) -> None:
    from mommi.runtime.sessions import load_model
    from mommi.runtime.zoo import ZooError, zoo_status

    manifest = _zoo(tmp_path)
    _edit(manifest, "single-lite", sha256=None)
    with pytest.raises(ZooError, match="no valid SHA-256"):
        load_model("single-lite", manifest, "cpu")
    assert any("no valid SHA-256" in p for p in zoo_status(manifest).problems)
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--zoo", str(manifest.parent)]) != 70


def test_the_loaded_model_is_the_hashed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Swapping the file right after it was read changes nothing: the session is built from the bytes."""
    from mommi.runtime import zoo as zoo_module
    from mommi.runtime.sessions import load_model

    manifest = _zoo(tmp_path)
    model_file = manifest.parent / "single-lite.onnx"
    genuine = zoo_module.verified_model_bytes

    def swap_after_check(name: str, path: Path | None = None) -> tuple:
        result = genuine(name, path)
        model_file.write_bytes(b"not a model at all")  # an attacker's swap between check and load
        return result

    monkeypatch.setattr("mommi.runtime.sessions.verified_model_bytes", swap_after_check)
    model = load_model("single-lite", manifest, "cpu")
    assert model.session.get_inputs()[0].name == "image"


# --- the analysis is never lost at the output step ---------------------------------------------------------

OUTPUT_BREAKERS = {
    "bogus character set": lambda ds: setattr(ds, "SpecificCharacterSet", "ISO_IR 9999"),
    "no SOP Instance UID": lambda ds: delattr(ds, "SOPInstanceUID"),
    "PixelSpacing NaN": lambda ds: setattr(ds, "PixelSpacing", ["NaN", "NaN"]),
}


@pytest.mark.parametrize("case", sorted(OUTPUT_BREAKERS))
def test_a_view_dicom_outputs_cannot_describe_loses_them_not_the_analysis(case: str, tmp_path: Path) -> None:
    import pydicom

    paths = factory.four_view_study(tmp_path / "study")
    ds = pydicom.dcmread(paths["L-CC"])
    OUTPUT_BREAKERS[case](ds)
    ds.save_as(paths["L-CC"])
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "study"), "--out", str(out), "--device", "cpu"]) == 0
    document = json.loads((out / "result.json").read_text())
    assert set(document["views"]) == {"L-CC", "L-MLO", "R-CC", "R-MLO"}  # every view analysed
    assert {"seg_R-CC", "seg_R-MLO", "seg_L-MLO", "sr"} <= set(document["files"])
    if "seg_L-CC" not in document["files"]:  # the view that cannot be described says why, naming its file
        assert not (out / "seg-L-CC.dcm").exists()
        assert any(w.startswith("L-CC: no DICOM Segmentation or SR") and "LCC.dcm" in w for w in document["warnings"])


# --- folders: link loops, links to nothing, unreadable subfolders ---------------------------------------------


@pytest.fixture()
def links(tmp_path: Path) -> Path:
    root = tmp_path / "links"
    root.mkdir()
    (root / "self").symlink_to("self")
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    (root / "dangling").symlink_to(tmp_path / "nothing-here")
    return root


@pytest.mark.parametrize("command", ["study-inspect", "analyze", "analyze-batch", "analyze-link"])
def test_link_loops_are_named_never_a_traceback(
    command: str, links: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = {
        "study-inspect": ["study", "inspect", str(links)],
        "analyze": ["analyze", str(links), "--out", str(tmp_path / "o")],
        "analyze-batch": ["analyze-batch", str(links), "--out", str(tmp_path / "b")],
        "analyze-link": ["analyze", str(links / "self"), "--out", str(tmp_path / "o2")],
    }[command]
    code = main(args)
    out = capsys.readouterr()
    text = out.out + out.err
    assert code in (1, 3) and "Traceback" not in text
    assert "link loop" in text or (
        command == "analyze-batch" and "link loop" in (tmp_path / "b" / "summary.csv").read_text()
    )


def test_an_unreadable_subfolder_is_reported_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from mommi.study.discovery import discover

    (tmp_path / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path: object = ".") -> object:  # root reads every folder, so the refusal is simulated
        if Path(str(path)).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found = discover([tmp_path])
    (error,) = found.errors
    assert error.path == tmp_path / "locked" and "cannot be read (Permission denied)" in error.reason


def test_an_mg_image_whose_modality_says_ct_is_left_out_of_the_report_only(tmp_path: Path) -> None:
    import pydicom

    paths = factory.four_view_study(tmp_path / "study")
    ds = pydicom.dcmread(paths["L-CC"])
    ds.Modality = "CT"
    ds.save_as(paths["L-CC"])
    out = tmp_path / "out"
    assert main(["analyze", str(tmp_path / "study"), "--out", str(out), "--device", "cpu"]) == 0
    document = json.loads((out / "result.json").read_text())
    assert "sr" in document["files"] and len(document["views"]) == 4
    assert any(w.startswith("L-CC: left out of the DICOM Structured Report (LCC.dcm)") for w in document["warnings"])


def test_a_study_with_nothing_readable_is_not_a_success(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    factory.write(
        factory.mammogram(factory.Patient(), "L", "CC", vendor="GE", intent="FOR PROCESSING"), folder / "raw.dcm"
    )
    assert main(["analyze", str(folder), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "no view could be analysed" in err and "raw.dcm: FOR PROCESSING" in err
    assert not (tmp_path / "out" / "result.json").exists()


def test_batch_output_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    factory.four_view_study(tmp_path / "root" / "s1")
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["analyze-batch", str(tmp_path / "root"), "--out", str(afile)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_batch_output_in_a_read_only_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory.four_view_study(tmp_path / "root" / "s1")
    locked = tmp_path / "locked" / "out"
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:  # root writes anywhere: refusal simulated
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    assert main(["analyze-batch", str(tmp_path / "root"), "--out", str(locked)]) == 1
    err = capsys.readouterr().err
    assert "cannot write the results" in err and "Permission denied" in err and "Traceback" not in err


def test_a_run_stopped_while_writing_leaves_the_old_result_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mommi.runtime import outputs
    from mommi.runtime.pipeline import Pipeline

    first, second = tmp_path / "first", tmp_path / "second"
    factory.four_view_study(first, factory.Patient(patient_id="A"))
    factory.four_view_study(second, factory.Patient(patient_id="B"), seed=5)
    out = tmp_path / "out"
    assert main(["analyze", str(first), "--out", str(out), "--device", "cpu"]) == 0
    (out / "notes.txt").write_text("the user's own file")
    study, result = Pipeline(device="cpu").analyze_path(second)

    def killed(*args: object, **kwargs: object) -> dict:
        raise KeyboardInterrupt  # stands for SIGKILL halfway through the outputs

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    before = contents()
    monkeypatch.setattr(outputs, "render_overlays", killed)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_outputs(result, study, out)
    assert contents() == before  # the first study's complete result, untouched; nothing of the second
    assert json.loads((out / "result.json").read_text())["study_uid"] != result.study_uid
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert not list(out.glob(outputs.STAGING_PREFIX + "*"))


def test_a_child_dies_with_its_killed_parent(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import multiprocessing, time, sys\n"
                "from concurrent.futures import ProcessPoolExecutor\n"
                "from mommi.child_processes import die_with_parent\n"
                "def work(path):\n"
                "    import os; open(path, 'w').write(str(os.getpid())); time.sleep(60)\n"
                "if __name__ == '__main__':\n"
                "    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('fork'),\n"
                "                             initializer=die_with_parent) as pool:\n"
                f"        pool.submit(work, {str(pid_file)!r}).result()\n"
            ),
        ]
    )
    deadline = time.time() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline, "the worker never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while time.time() < deadline:
        if not _alive(child):
            return  # gone with its parent (or a zombie waiting for init)
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the worker outlived its killed parent")


def test_rerunning_a_finished_batch_keeps_every_summary_column(tmp_path: Path) -> None:
    import csv

    factory.four_view_study(tmp_path / "root" / "s1")
    out = tmp_path / "out"
    assert main(["analyze-batch", str(tmp_path / "root"), "--out", str(out), "--no-dicom"]) == 0
    first = list(csv.DictReader((out / "summary.csv").open()))
    assert main(["analyze-batch", str(tmp_path / "root"), "--out", str(out), "--no-dicom"]) == 0
    again = list(csv.DictReader((out / "summary.csv").open()))
    assert again[0]["status"] == "skipped (already done)"
    for column in ("study_uid", "patient_key", "folder", "findings"):
        assert again[0][column] == first[0][column] != ""


def test_huge_files_are_refused_quickly(tmp_path: Path) -> None:
    """A zero-filled file and a DICOM header followed by a huge tail: refused in well under a second
    (both are sparse files here: the size is what matters, not the bytes written)."""
    import time

    zeros = tmp_path / "zeros.bin"
    with zeros.open("wb") as handle:
        handle.truncate(2 * 2**30)
    tail = factory.write(factory.mammogram(factory.Patient(), "L", "CC"), tmp_path / "tail.dcm")
    with tail.open("ab") as handle:
        handle.truncate(1 * 2**30)
    start = time.perf_counter()
    collection = load_studies([tmp_path])
    assert time.perf_counter() - start < 20  # seconds; minutes before the fix
    reasons = {e.path.name: e.reason for e in collection.errors}
    assert "not a DICOM file" in reasons["zeros.bin"]
    assert "far more than its 128 x 160 image needs" in reasons["tail.dcm"]


def test_an_unreadable_file_is_not_called_incomplete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom

    path = factory.write(factory.mammogram(factory.Patient(), "L", "CC"), tmp_path / "locked.dcm")
    real = pydicom.dcmread

    def refuse(target: object, *args: object, **kwargs: object) -> object:  # root reads everything: simulated
        if Path(str(target)) == path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(target, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", refuse)
    (error,) = load_studies([path]).errors
    assert "cannot be read (Permission denied)" in error.reason and "incomplete" not in error.reason


def test_views_without_sop_instance_uids_are_not_duplicates_of_each_other(tmp_path: Path) -> None:
    import pydicom

    paths = factory.four_view_study(tmp_path / "study")
    for path in paths.values():
        ds = pydicom.dcmread(path)
        del ds.SOPInstanceUID
        ds.save_as(path)
    (study,) = load_studies([tmp_path / "study"]).studies
    assert sorted(v.value for v in study.images) == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert not [s for s in study.set_aside if "duplicate" in s.reason]


def test_a_corrupt_rle_stream_is_a_clean_error_without_a_native_panic_on_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import pydicom

    path = factory.write(factory.mammogram(factory.Patient(), "L", "CC"), tmp_path / "rle.dcm", RLELossless)
    ds = pydicom.dcmread(path)
    data = bytearray(ds.PixelData)
    for i in range(len(data) // 3, len(data) - 20, 7):  # scrambled run lengths: the Rust decoder panics
        data[i] = (data[i] * 31 + 17) % 256
    ds.PixelData = bytes(data)
    ds.save_as(path)
    (error,) = load_studies([path]).errors
    assert error.path == path and "could not be decoded" in error.reason
    captured = capfd.readouterr()
    assert "panicked" not in captured.err and "stack backtrace" not in captured.err


def test_a_killed_analysis_leaves_the_previous_result_whole_and_a_rerun_cleans_up(tmp_path: Path) -> None:
    """Outputs are written into a hidden staging folder and swapped in: killing `mommi analyze` while it
    writes over another study's finished result leaves that result exactly as it was."""
    import hashlib
    import os
    import signal
    import subprocess
    import sys
    import time

    from mommi.data.synth import synthesize
    from mommi.runtime.outputs import STAGING_PREFIX

    first, second = synthesize(tmp_path / "a", 1, seed=1)[0], synthesize(tmp_path / "b", 1, seed=2)[0]
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mommi.cli.main", "analyze"]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    assert subprocess.run([*command, str(first), "--out", str(out)], env=env, capture_output=True).returncode == 0

    def files() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir() if p.is_file()}

    before = files()
    assert "result.json" in before and "maps.npz" in before
    run = subprocess.Popen(
        [*command, str(second), "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while not any(out.glob(STAGING_PREFIX + "*")):
        assert run.poll() is None, "the analysis finished before it could be killed while writing"
        assert time.time() < deadline, "the analysis never started writing"
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert files() == before  # the earlier, complete result, untouched
    assert subprocess.run([*command, str(second), "--out", str(out)], env=env, capture_output=True).returncode == 0
    result = json.loads((out / "result.json").read_text())
    assert result["study_uid"] == json.loads((second / "truth.json").read_text())["study_uid"]
    assert not any(out.glob(STAGING_PREFIX + "*"))
    assert all((out / name).is_file() for name in result["files"].values())


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("target", ["parent", "group"])
def test_a_killed_batch_leaves_no_worker_no_mixed_folder_and_resumes(tmp_path: Path, target: str) -> None:
    """Kill `mommi analyze-batch` (its parent alone, or its whole process group) once one study is done:
    no worker outlives it, summary.csv holds what was finished, and a rerun completes the rest."""
    import csv
    import os
    import signal
    import subprocess
    import sys
    import time

    from mommi.data.synth import synthesize

    if not sys.platform.startswith("linux"):
        pytest.skip("the worker check reads /proc")
    root, out = tmp_path / "studies", tmp_path / "out"
    synthesize(root, 3, seed=5)
    command = [
        sys.executable,
        "-m",
        "mommi.cli.main",
        "analyze-batch",
        str(root),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-dicom",
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline, workers = time.time() + 240, set()
    while not list(out.glob("*/result.json")):
        assert run.poll() is None, "the batch ended before it could be killed"
        assert time.time() < deadline, "no study finished in time"
        workers |= _descendants(run.pid)
        time.sleep(0.05)
    workers |= _descendants(run.pid)
    assert workers, "the batch started no worker process"
    if target == "parent":
        run.send_signal(signal.SIGKILL)
    else:
        os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.time() + 20
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    survivors = {
        pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for pid in workers if _alive(pid)
    }
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"processes outlived the killed batch: {survivors}"
    for folder in out.iterdir():
        if folder.is_dir() and (folder / "result.json").exists():
            listed = json.loads((folder / "result.json").read_text())["files"].values()
            assert all((folder / name).is_file() for name in listed)
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    with (out / "summary.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(row["status"] in ("done", "skipped (already done)") for row in rows)
