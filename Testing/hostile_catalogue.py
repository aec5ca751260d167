"""The hostile-input catalogue (#18): every kind of bad input we know of, as data.

Each case writes its input into a fresh folder and names the `mommi` command line to run on it; the
runner (`hostile_runner.py`) runs every case in one process and records the exit code, everything
printed (captured at the file-descriptor level, so native panics count), the time and the peak
memory. `test_hostile_catalogue.py` checks each record against the case: the documented exit code,
the cause in words, the file named, no traceback or panic, the analysis kept where it should be.

Cases are declared in a list rather than as separate tests so that a tester can read the whole
attack surface in one place and add a kind with one entry.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, RLELossless

import dicom_factory as factory
from orthanc_server import free_port  # a port nothing listens on

OK, PROBLEMS, USAGE, NO_STUDY = 0, 1, 2, 3  # the README's exit-code table


class Family(enum.Enum):
    DICOM = "DICOM"
    RASTER = "PNG/PGM/JPEG + sidecar"
    FOLDER = "folders and links"
    OPTIONS = "command-line options"
    ZOO = "model zoo manifests"
    BATCH = "feedback batches"
    STORE = "review stores"


@dataclass
class Workspace:
    """One case's folder, plus what several cases share (built once by the runner)."""

    folder: Path
    shared: Path

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def good_views(self, skip: str = "L-CC") -> list[Path]:
        """Three good views of one patient (all but ``skip``), written once and shared."""
        study = self.shared / "good-study"
        if not study.is_dir():
            factory.four_view_study(study, factory.Patient(patient_id="PAT-HOSTILE", study_uid="1.2.3.4.5.6.7.8.9"))
        names = {"R-CC": "RCC.dcm", "L-CC": "LCC.dcm", "R-MLO": "RMLO.dcm", "L-MLO": "LMLO.dcm"}
        return [study / names[v] for v in sorted(names) if v != skip]

    def good_study(self) -> Path:
        self.good_views()
        return self.shared / "good-study"

    def mammogram(self, **changes: object) -> Dataset:
        """The L-CC view of the good study, with header values replaced."""
        ds = pydicom.dcmread(self.good_study() / "LCC.dcm")
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        return ds

    def analyze(self, hostile: Path, *extra: str) -> list[str]:
        """`mommi analyze` on a study folder: three good views and the hostile file in place of the L-CC."""
        study = self.folder / "study"
        study.mkdir()
        for view in self.good_views():
            shutil.copy(view, study / view.name)
        hostile.rename(study / hostile.name)
        return ["analyze", str(study), "--out", str(self.out), *extra]

    def zoo(self) -> Path:
        """A private copy of the shipped zoo to damage."""
        from zoo_copies import copy_zoo

        return copy_zoo(self.folder / "zoo")

    def batch(self) -> Path:
        """A real feedback batch (folder), exported once from a reviewed analysis and copied per case."""
        source = self.shared / "batch"
        if not source.is_dir():
            _export_reference_batch(self.shared)
        copied = self.folder / "batch"
        shutil.copytree(source, copied)
        return copied


@dataclass(frozen=True)
class Case:
    kind: str
    family: Family
    build: Callable[[Workspace], list[str]]  # writes the input, returns the mommi argv
    exit_code: int
    says: str  # a regular expression the output must match (the cause in words)
    names: str | None = None  # a file or folder name the message must contain
    keeps_result: bool = False  # result.json must exist: the analysis of the good views is not lost
    env: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ helpers


def _save(ds: Dataset, path: Path, transfer_syntax: str | None = None) -> Path:
    return factory.write(ds, path, transfer_syntax)


def _dicom_header_only(ws: Workspace, name: str, **changes: object) -> Path:
    """A valid header whose pixel data is a few bytes: the header's declared size is the attack."""
    ds = ws.mammogram(**changes)
    ds.PixelData = b"\x00\x00" * 8
    return _save(ds, ws.folder / name)


def _changed(ws: Workspace, name: str, **changes: object) -> Path:
    return _save(ws.mammogram(**changes), ws.folder / name)


def _raw_changed(ws: Workspace, name: str, edit: Callable[[Dataset], None]) -> Path:
    ds = ws.mammogram()
    edit(ds)
    path = ws.folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=False)
    return path


def _compressed_then_damaged(ws: Workspace, name: str, syntax: str, damage: Callable[[bytearray], None]) -> Path:
    path = _save(ws.mammogram(), ws.folder / name, syntax)
    ds = pydicom.dcmread(path)
    data = bytearray(ds.PixelData)
    damage(data)
    ds.PixelData = bytes(data)
    ds.save_as(path)
    return path


def _scramble(data: bytearray) -> None:
    for i in range(len(data) // 3, len(data) - 20, 7):
        data[i] = (data[i] * 31 + 17) % 256


def _cut_stream(data: bytearray) -> None:
    """Keep the first fragment's header and a third of its codestream, so the frame ends early."""
    del data[len(data) // 3 :]
    if len(data) % 2:
        data.append(0)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_bomb(path: Path, width: int, height: int) -> Path:
    body = zlib.compress(b"\x00" * (width + 1) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )
    return path


SIDECAR = {"laterality": "L", "view": "CC", "pixel_spacing_mm": 0.1, "patient_id": "RAST-1", "study_id": "S1"}


def _raster_study(
    ws: Workspace, hostile_image: Callable[[Path], Path] | None = None, sidecar: dict | str | bytes | None = None
) -> list[str]:
    """`mommi analyze` on a PNG study: three good views with sidecars, and the L-CC made hostile by
    replacing its image, its sidecar (a dict, or raw text/bytes), or both."""
    folder = ws.folder / "raster"
    folder.mkdir(parents=True)
    for index, (lat, view) in enumerate((("R", "CC"), ("R", "MLO"), ("L", "MLO"))):
        pixels = factory.breast_phantom(160, 128, "left" if lat == "L" else "right", bits=8, seed=index)
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{lat}{view}.png")
        (folder / f"{lat}{view}.png.json").write_text(json.dumps({**SIDECAR, "laterality": lat, "view": view}))
    target = folder / "LCC.png"
    if hostile_image is not None:
        hostile_image(target)
    else:
        Image.fromarray(factory.breast_phantom(160, 128, "left", bits=8, seed=9).astype(np.uint8)).save(target)
    side = folder / "LCC.png.json"
    if sidecar is None:
        side.write_text(json.dumps(SIDECAR))
    elif isinstance(sidecar, dict):
        side.write_text(json.dumps(sidecar))
    elif isinstance(sidecar, bytes):
        side.write_bytes(sidecar)
    else:
        side.write_text(sidecar)
    return ["analyze", str(folder), "--out", str(ws.out)]


def _sidecar(**changes: object) -> dict:
    merged = {**SIDECAR, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def _export_reference_batch(shared: Path) -> None:
    from mommi.cli.main import main
    from mommi.feedback.export import export_batch
    from mommi.feedback.store import open_store
    from mommi.review.session import ReviewSession

    analysed = shared / "analysed"
    assert main(
        ["analyze", str(Workspace(shared / "x", shared).good_study()), "--out", str(analysed), "--no-dicom"]
    ) in (OK, PROBLEMS)
    with open_store(shared / "review.sqlite") as store:
        session = ReviewSession(store, analysed, reader="dr-a")
        session.add_mass("R-CC", [30, 40, 70, 90])
        for finding in session.findings:
            session.accept(finding.id)
        export_batch(store, shared / "batch", salt=b"hostile")


def _resign(batch: Path) -> None:
    """An attacker who edits a batch and rewrites its manifest's hashes to match."""
    manifest = json.loads((batch / "manifest.json").read_text())
    manifest["files"] = {
        p.relative_to(batch).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(batch.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }
    (batch / "manifest.json").write_text(json.dumps(manifest))


def _train_on(ws: Workspace, batch: Path) -> list[str]:
    return ["train", "single", "--feedback", str(batch), "--out", str(ws.out), "--epochs", "1"]


def _edit_manifest(ws: Workspace, edit: Callable[[dict], None]) -> Path:
    manifest = ws.zoo()
    data = json.loads(manifest.read_text())
    edit(data)
    manifest.write_text(json.dumps(data))
    return manifest


def _entry(data: dict, name: str) -> dict:
    return next(m for m in data["models"] if m["name"] == name)


def _rehashed(ws: Workspace, name: str, new_bytes: Callable[[bytes, Path], bytes]) -> Path:
    """Replace a zoo file's bytes and record their hash: damage that passes the integrity check."""
    manifest = ws.zoo()
    data = json.loads(manifest.read_text())
    entry = _entry(data, name)
    path = manifest.parent / entry["file"]
    path.write_bytes(new_bytes(path.read_bytes(), manifest.parent))
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(data))
    return manifest


def _analyze_with_zoo(ws: Workspace, manifest: Path) -> list[str]:
    return ["analyze", str(ws.good_study()), "--out", str(ws.out), "--zoo", str(manifest)]


def _deep_sequence(ws: Workspace, name: str, depth: int) -> Path:
    """Sequences nested ``depth`` deep (undefined lengths) before the pixel data: written as bytes, since
    pydicom itself cannot write what it is here to test reading (its writer recurses too)."""
    good = (ws.good_study() / "LCC.dcm").read_bytes()
    at = good.rindex(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data, explicit VR little endian
    sequence = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    close = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    nested = (sequence + item) * depth + close * depth
    return _write(ws.folder / name, good[:at] + nested + good[at:])


def _replaced(ws: Workspace, name: str, old: bytes, new: bytes) -> Path:
    """The good L-CC with one value's bytes replaced (same length): values pydicom would refuse to write."""
    good = (ws.good_study() / "LCC.dcm").read_bytes()
    assert good.count(old) == 1 and len(old) == len(new), old
    return _write(ws.folder / name, good.replace(old, new))


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)
    return path


def _dicom_head(ws: Workspace) -> bytes:
    return (ws.good_study() / "LCC.dcm").read_bytes()[:1200]


def _sqlite_with_schema(path: Path, version: int) -> Path:
    from mommi.feedback.store import open_store

    with open_store(path):
        pass
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = ? WHERE id = 1", (version,))
    return path


def _zip_with(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _batch_zip(ws: Workspace, extra: dict[str, bytes]) -> Path:
    batch = ws.batch()
    buffer = ws.folder / "batch.zip"
    with zipfile.ZipFile(buffer, "w") as archive:
        for file in sorted(batch.rglob("*")):
            if file.is_file():
                archive.write(file, f"batch/{file.relative_to(batch).as_posix()}")
        for name, data in extra.items():
            archive.writestr(name, data)
    return buffer


def _non_utf8_batch(ws: Workspace) -> list[str]:
    root = ws.folder / "root"
    shutil.copytree(ws.good_study(), root / "good")
    name = os.fsdecode(b"caf\xe9-\xff")
    shutil.copytree(ws.good_study(), root / name)
    for file in (root / name).iterdir():  # a second study, not a duplicate of the first
        ds = pydicom.dcmread(file)
        ds.StudyInstanceUID = ds.StudyInstanceUID + ".2"
        ds.SOPInstanceUID = ds.SOPInstanceUID + ".2"
        ds.PatientID = "PAT-OTHER"
        ds.save_as(file)
    return ["analyze-batch", str(root), "--out", str(ws.out), "--no-dicom"]


def _two_study_batch(ws: Workspace, *options: str) -> list[str]:
    root = ws.folder / "root"
    shutil.copytree(ws.good_study(), root / "one")
    shutil.copytree(ws.good_study(), root / "two")
    for file in (root / "two").iterdir():  # a second study, not a duplicate of the first
        ds = pydicom.dcmread(file)
        ds.StudyInstanceUID, ds.SOPInstanceUID, ds.PatientID = (
            ds.StudyInstanceUID + ".2",
            ds.SOPInstanceUID + ".2",
            "P2",
        )
        ds.save_as(file)
    return ["analyze-batch", str(root), "--out", str(ws.out), "--no-dicom", *options]


def _batch_one_broken(ws: Workspace) -> list[str]:
    root = ws.folder / "root"
    shutil.copytree(ws.good_study(), root / "good")
    _write(root / "broken" / "only.dcm", b"DICM" * 10)
    return ["analyze-batch", str(root), "--out", str(ws.out), "--no-dicom"]


def _fifo(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    os.mkfifo(study / "pipe.dcm")
    return ["analyze", str(study), "--out", str(ws.out)]


def _link_to_device(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    (study / "zero.dcm").symlink_to("/dev/zero")
    return ["analyze", str(study), "--out", str(ws.out)]


def _many_small_files(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    for i in range(3000):
        (study / f"junk{i:04d}.dcm").write_bytes(b"not dicom")
    return ["study", "inspect", str(study)]


def _deep_folders(ws: Workspace) -> list[str]:
    deep = ws.folder / "deep"
    path = deep
    for i in range(60):
        path = path / f"d{i}"
    shutil.copytree(ws.good_study(), path)
    return ["study", "inspect", str(deep)]


def _self_link(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    (study / "me.dcm").symlink_to(study / "me.dcm")
    return ["analyze", str(study), "--out", str(ws.out)]


def _link_cycle(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    (study / "a.dcm").symlink_to(study / "b.dcm")
    (study / "b.dcm").symlink_to(study / "a.dcm")
    return ["analyze", str(study), "--out", str(ws.out)]


def _dangling(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    (study / "gone.dcm").symlink_to(ws.folder / "nowhere.dcm")
    return ["analyze", str(study), "--out", str(ws.out)]


def _folder_link_loop(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    (study / "loop").symlink_to(study)
    return ["study", "inspect", str(study)]


def _duplicate_views(ws: Workspace) -> list[str]:
    study = ws.folder / "study"
    shutil.copytree(ws.good_study(), study)
    shutil.copy(study / "LCC.dcm", study / "LCC-copy.dcm")
    return ["analyze", str(study), "--out", str(ws.out)]


def _two_patients(ws: Workspace) -> list[str]:
    other = ws.mammogram(PatientID="SOMEONE-ELSE", StudyInstanceUID="1.2.3.99", SOPInstanceUID="1.2.3.99.1")
    return ws.analyze(_save(other, ws.folder / "other.dcm"))


def _multi_frame(ws: Workspace) -> Path:
    ds = ws.mammogram()
    ds.NumberOfFrames = 3
    ds.PixelData = ds.PixelData * 3
    return _save(ds, ws.folder / "frames.dcm")


def _rgb(ws: Workspace) -> Path:
    grey = (ws.mammogram().pixel_array >> 4).astype(np.uint8)  # 12-bit stored values to 8
    ds = ws.mammogram(SamplesPerPixel=3, PhotometricInterpretation="RGB", BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PlanarConfiguration = 0
    ds.PixelData = np.repeat(grey[..., None], 3, axis=-1).tobytes()
    return _save(ds, ws.folder / "rgb.dcm")


def _short_pixels(ws: Workspace) -> Path:
    ds = ws.mammogram()
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    return _save(ds, ws.folder / "short.dcm")


def _odd_pixels(ws: Workspace) -> Path:
    ds = ws.mammogram()
    ds.PixelData = ds.PixelData[:-1]
    return _raw_changed(ws, "odd.dcm", lambda d: setattr(d, "PixelData", ds.PixelData))


def _encapsulated_as_native(ws: Workspace) -> Path:
    path = _save(ws.mammogram(), ws.folder / "mislabelled.dcm", RLELossless)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.save_as(path)
    return path


def _unknown_syntax(ws: Workspace) -> Path:
    path = _save(ws.mammogram(), ws.folder / "unknown-ts.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7.8.9.10"
    ds.save_as(path)
    return path


def _signed_negative(ws: Workspace) -> Path:
    ds = ws.mammogram(PixelRepresentation=1)
    values = np.frombuffer(ds.PixelData, dtype=np.int16).copy()
    values[::2] = -2000
    ds.PixelData = values.tobytes()
    return _save(ds, ws.folder / "signed.dcm")


def _latin1_without_charset(ws: Workspace) -> Path:
    path = _save(ws.mammogram(), ws.folder / "latin1.dcm")
    raw = path.read_bytes().replace(b"Test^Anna", b"T\xe9st^Ann\xe4")
    path.write_bytes(raw)
    return path


def _dicomdir_only(ws: Workspace) -> list[str]:
    folder = ws.folder / "media"
    folder.mkdir()
    source = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "DICOMDIR"
    if source.is_file():
        shutil.copy(source, folder / "DICOMDIR")
    else:  # an equivalent: a Media Storage Directory header without records
        ds = Dataset()
        ds.SOPClassUID = "1.2.840.10008.1.3.10"
        ds.SOPInstanceUID = "1.2.3.4"
        _save(ds, folder / "DICOMDIR")
    return ["analyze", str(folder), "--out", str(ws.out)]


# --------------------------------------------------------------------------------------- the catalogue

D, R, F, OPT, Z, B, S = (
    Family.DICOM,
    Family.RASTER,
    Family.FOLDER,
    Family.OPTIONS,
    Family.ZOO,
    Family.BATCH,
    Family.STORE,
)
LOST_OUTPUTS = r"no DICOM Segmentation or SR for this view|left out of the DICOM Structured Report"

CASES: list[Case] = [
    # ---------------------------------------------------------------- DICOM: memory and time bombs
    Case(
        "rows-columns-65535",
        D,
        lambda ws: ws.analyze(_dicom_header_only(ws, "huge.dcm", Rows=65535, Columns=65535)),
        PROBLEMS,
        r"megapixel|too large",
        "huge.dcm",
        keeps_result=True,
    ),
    Case(
        "rle-declaring-65535",
        D,
        lambda ws: ws.analyze(_rle_huge(ws)),
        PROBLEMS,
        r"megapixel|too large",
        "rle-huge.dcm",
        keeps_result=True,
    ),
    Case(
        "rows-zero",
        D,
        lambda ws: ws.analyze(_dicom_header_only(ws, "empty-image.dcm", Rows=0)),
        PROBLEMS,
        r"empty|no pixels|rows|0 x",
        "empty-image.dcm",
        keeps_result=True,
    ),
    Case(
        "sparse-4-gib-zero-file",
        D,
        lambda ws: ws.analyze(_sparse(ws.folder / "zeros.dcm", 4 << 30)),
        PROBLEMS,
        r"zero|not a DICOM|too large|empty",
        "zeros.dcm",
        keeps_result=True,
    ),
    Case(
        "header-with-1-gib-tail",
        D,
        lambda ws: ws.analyze(_sparse(ws.folder / "tail.dcm", 1 << 30, (ws.good_study() / "LCC.dcm").read_bytes())),
        PROBLEMS,
        r"far more than its",
        "tail.dcm",
        keeps_result=True,
    ),
    Case(
        "sequence-nesting-bomb",
        D,
        lambda ws: ws.analyze(_deep_sequence(ws, "nested.dcm", 3000)),
        PROBLEMS,
        r"nest|deep|header|could not be read",
        "nested.dcm",
        keeps_result=True,
    ),
    Case(
        "megabyte-patient-name",
        D,
        lambda ws: ws.analyze(_changed(ws, "long-name.dcm", PatientComments="x" * (2 << 20))),
        OK,
        r"finding|study",
        None,
        keeps_result=True,
    ),
    # ---------------------------------------------------------------- DICOM: not a greyscale 2D mammogram
    Case(
        "bits-allocated-1",
        D,
        lambda ws: ws.analyze(_dicom_header_only(ws, "bits1.dcm", BitsAllocated=1, BitsStored=1, HighBit=0)),
        PROBLEMS,
        r"BitsAllocated|bits",
        "bits1.dcm",
        keeps_result=True,
    ),
    Case(
        "bits-allocated-12",
        D,
        lambda ws: ws.analyze(_changed(ws, "bits12.dcm", BitsAllocated=12)),
        PROBLEMS,
        r"BitsAllocated|bits",
        "bits12.dcm",
        keeps_result=True,
    ),
    Case(
        "bits-stored-over-allocated",
        D,
        lambda ws: ws.analyze(_changed(ws, "bits20.dcm", BitsStored=20, HighBit=19)),
        PROBLEMS,
        r"BitsStored|bits",
        "bits20.dcm",
        keeps_result=True,
    ),
    Case(
        "rgb-colour",
        D,
        lambda ws: ws.analyze(_rgb(ws)),
        OK,
        r"colour image \(RGB\) converted to grey",
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "palette-colour",
        D,
        lambda ws: ws.analyze(_changed(ws, "palette.dcm", PhotometricInterpretation="PALETTE COLOR")),
        PROBLEMS,
        r"PALETTE|colou?r|greyscale|photometric",
        "palette.dcm",
        keeps_result=True,
    ),
    Case(
        "multi-frame", D, lambda ws: ws.analyze(_multi_frame(ws)), PROBLEMS, r"frame", "frames.dcm", keeps_result=True
    ),
    Case(
        "ct-slice-named",
        D,
        lambda ws: ws.analyze(
            _save(
                factory.ct_slice(factory.Patient(patient_id="PAT-HOSTILE", study_uid="1.2.3.4.5.6.7.8.9")),
                ws.folder / "ct.dcm",
            )
        ),
        PROBLEMS,
        r"not a mammogram|CT|modality",
        "ct.dcm",
        keeps_result=True,
    ),
    Case(
        "only-a-ct-slice",
        D,
        lambda ws: [
            "analyze",
            str(_save(factory.ct_slice(factory.Patient()), ws.folder / "ct.dcm")),
            "--out",
            str(ws.out),
        ],
        NO_STUDY,
        r"not a mammogram|CT|no usable|modality",
        "ct.dcm",
    ),
    Case(
        "lone-for-processing",
        D,
        lambda ws: [
            "analyze",
            str(
                _save(
                    factory.mammogram(factory.Patient(), "L", "CC", vendor="GE", intent="FOR PROCESSING"),
                    ws.folder / "raw.dcm",
                )
            ),
            "--out",
            str(ws.out),
        ],
        PROBLEMS,
        r"FOR PROCESSING",
        "raw.dcm",
    ),
    # ---------------------------------------------------------------- DICOM: broken files and streams
    Case(
        "empty-file",
        D,
        lambda ws: ws.analyze(_write(ws.folder / "empty.dcm", b"")),
        PROBLEMS,
        r"empty|not a DICOM|no data",
        "empty.dcm",
        keeps_result=True,
    ),
    Case(
        "text-file-named-dcm",
        D,
        lambda ws: ws.analyze(_write(ws.folder / "notes.dcm", "hello\n" * 50)),
        PROBLEMS,
        r"not a DICOM|not an image|not DICOM",
        "notes.dcm",
        keeps_result=True,
    ),
    Case(
        "preamble-then-garbage",
        D,
        lambda ws: ws.analyze(_write(ws.folder / "garbage.dcm", b"\0" * 128 + b"DICM" + os.urandom(3000))),
        PROBLEMS,
        r"could not be read|header|invalid|truncated|not a DICOM",
        "garbage.dcm",
        keeps_result=True,
    ),
    Case(
        "truncated-in-header",
        D,
        lambda ws: ws.analyze(_write(ws.folder / "cut-header.dcm", _dicom_head(ws)[:300])),
        PROBLEMS,
        r"truncated|ends|header|could not be read|no pixel",
        "cut-header.dcm",
        keeps_result=True,
    ),
    Case(
        "truncated-in-pixels",
        D,
        lambda ws: ws.analyze(_write(ws.folder / "cut-pixels.dcm", (ws.good_study() / "LCC.dcm").read_bytes()[:-5000])),
        PROBLEMS,
        r"truncated|short|pixel|ends",
        "cut-pixels.dcm",
        keeps_result=True,
    ),
    Case(
        "pixel-data-half-missing",
        D,
        lambda ws: ws.analyze(_short_pixels(ws)),
        PROBLEMS,
        r"pixel|short|truncated|length|bytes",
        "short.dcm",
        keeps_result=True,
    ),
    Case(
        "pixel-data-odd-length", D, lambda ws: ws.analyze(_odd_pixels(ws)), OK, r"finding", None, keeps_result=True
    ),  # one byte short of the last pixel: pydicom pads it, the image is whole
    Case(
        "no-pixel-data",
        D,
        lambda ws: ws.analyze(_changed(ws, "no-pixels.dcm", PixelData=None)),
        PROBLEMS,
        r"ends before its image data",
        "no-pixels.dcm",
        keeps_result=True,
    ),
    Case(
        "unknown-transfer-syntax",
        D,
        lambda ws: ws.analyze(_unknown_syntax(ws)),
        PROBLEMS,
        r"transfer syntax|could not be decoded|1\.2\.3\.4\.5",
        "unknown-ts.dcm",
        keeps_result=True,
    ),
    Case(
        "encapsulated-under-native-syntax",
        D,
        lambda ws: ws.analyze(_encapsulated_as_native(ws)),
        PROBLEMS,
        r"pixel|length|could not be decoded|truncated|bytes",
        "mislabelled.dcm",
        keeps_result=True,
    ),
    Case(
        "corrupt-rle-stream",
        D,
        lambda ws: ws.analyze(_compressed_then_damaged(ws, "rle-bad.dcm", RLELossless, _scramble)),
        PROBLEMS,
        r"could not be decoded",
        "rle-bad.dcm",
        keeps_result=True,
    ),
    Case(
        "corrupt-jpeg2000-stream",
        D,
        lambda ws: ws.analyze(_compressed_then_damaged(ws, "j2k-bad.dcm", JPEG2000Lossless, _scramble)),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    # ^ OpenJPEG decodes scrambled code-blocks into wrong pixels without an error: JPEG 2000 has no checksum
    Case(
        "cut-jpeg2000-stream",
        D,
        lambda ws: ws.analyze(_compressed_then_damaged(ws, "j2k-cut.dcm", JPEG2000Lossless, _cut_stream)),
        PROBLEMS,
        r"could not be decoded",
        "j2k-cut.dcm",
        keeps_result=True,
    ),
    Case(
        "cut-rle-stream",
        D,
        lambda ws: ws.analyze(_compressed_then_damaged(ws, "rle-cut.dcm", RLELossless, _cut_stream)),
        PROBLEMS,
        r"could not be decoded",
        "rle-cut.dcm",
        keeps_result=True,
    ),
    # ---------------------------------------------------------------- DICOM: values that lie
    Case(
        "pixel-spacing-nan",
        D,
        lambda ws: ws.analyze(_changed(ws, "nan.dcm", PixelSpacing=["NaN", "NaN"])),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "pixel-spacing-text",
        D,
        lambda ws: ws.analyze(_replaced(ws, "text-spacing.dcm", b"0.065\\0.065", b"abcde\\fghij")),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "pixel-spacing-negative",
        D,
        lambda ws: ws.analyze(_changed(ws, "negative.dcm", PixelSpacing=[-1, 3], ImagerPixelSpacing=None)),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "pixel-spacing-metre",
        D,
        lambda ws: ws.analyze(_changed(ws, "metre.dcm", PixelSpacing=[1000, 1000], ImagerPixelSpacing=None)),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "window-width-zero",
        D,
        lambda ws: ws.analyze(_changed(ws, "ww0.dcm", WindowWidth=0)),
        OK,
        r"window / VOI LUT in the header is invalid .*automatic window",
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "window-centre-text",
        D,
        lambda ws: ws.analyze(_replaced(ws, "wc-text.dcm", b"2047.0\\1900.0", b"wide.x\\high.y")),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "voi-lut-function-bogus",
        D,
        lambda ws: ws.analyze(_changed(ws, "voi.dcm", VOILUTFunction="CUBIC")),
        OK,
        r"CUBIC.*automatic window",
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "blank-pixels", D, lambda ws: ws.analyze(_blank_dicom(ws)), PROBLEMS, r"blank", "blank.dcm", keeps_result=True
    ),
    Case(
        "rescale-slope-zero",
        D,
        lambda ws: ws.analyze(_changed(ws, "slope0.dcm", RescaleSlope=0)),
        PROBLEMS,
        r"blank.*RescaleSlope is 0",
        "slope0.dcm",
        keeps_result=True,
    ),
    Case(
        "signed-pixels-negative",
        D,
        lambda ws: ws.analyze(_signed_negative(ws)),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "laterality-both",
        D,
        lambda ws: ws.analyze(
            _changed(ws, "bilat.dcm", ImageLaterality="B", PatientOrientation=None, ViewCodeSequence=None)
        ),
        PROBLEMS,
        r"laterality|side",
        "bilat.dcm",
        keeps_result=True,
    ),
    Case(
        "view-position-garbage",
        D,
        lambda ws: ws.analyze(_changed(ws, "view.dcm", ViewPosition="??", ViewCodeSequence=None)),
        OK,
        r"set aside: L-\?\? is not a screening",
        "view.dcm",
        keeps_result=True,
    ),
    Case(
        "bogus-character-set",
        D,
        lambda ws: ws.analyze(_changed(ws, "charset.dcm", SpecificCharacterSet="ISO_IR 999")),
        OK,
        LOST_OUTPUTS,
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "no-sop-instance-uid",
        D,
        lambda ws: ws.analyze(_raw_changed(ws, "no-uid.dcm", lambda d: delattr(d, "SOPInstanceUID"))),
        OK,
        LOST_OUTPUTS,
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "mg-with-modality-ct",
        D,
        lambda ws: ws.analyze(_changed(ws, "modality.dcm", Modality="CT")),
        OK,
        LOST_OUTPUTS,
        "L-CC",
        keeps_result=True,
    ),
    Case(
        "latin1-without-charset",
        D,
        lambda ws: ws.analyze(_latin1_without_charset(ws)),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case("duplicate-view-file", D, _duplicate_views, OK, r"duplicate", "LCC", keeps_result=True),
    Case("second-patient-among-views", D, _two_patients, PROBLEMS, r"patient|stud", "other.dcm"),
    Case("dicomdir-only", D, _dicomdir_only, NO_STUDY, r"no .*stud|DICOMDIR|no usable", None),
    # ---------------------------------------------------------------- PNG / PGM / JPEG and sidecars
    Case(
        "png-declaring-30000",
        R,
        lambda ws: _raster_study(ws, lambda p: _png_bomb(p, 30000, 30000)),
        PROBLEMS,
        r"too many pixels|megapixels",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "png-declaring-12000",
        R,
        lambda ws: _raster_study(ws, lambda p: _png_bomb(p, 12000, 12000)),
        PROBLEMS,
        r"too many pixels|megapixels",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "pgm-declaring-huge",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, b"P5\n60000 60000\n255\n" + b"\0" * 100)),
        PROBLEMS,
        r"too many pixels|megapixels",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "jpeg-declaring-65500",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, _jpeg_declaring(65500, 65500))),
        PROBLEMS,
        r"too many pixels|megapixels",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "png-truncated",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, _png_bytes(160, 128)[:400])),
        PROBLEMS,
        r"truncated|could not be (read|decoded)|broken|image file",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "text-named-png",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, "not an image")),
        PROBLEMS,
        r"not an image|could not be (read|decoded)|identify|image",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "png-one-pixel",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, _png_bytes(1, 1))),
        PROBLEMS,
        r"too small to be a mammogram",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "png-blank",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, _png_blank(160, 128))),
        PROBLEMS,
        r"blank",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-named-pipe",
        R,
        lambda ws: _sidecar_fifo(ws),
        PROBLEMS,
        r"not a regular file",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "png-rgb",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, _png_bytes(160, 128, mode="RGB"))),
        OK,
        r"finding",
        None,
        keeps_result=True,
    ),
    Case(
        "pgm-maxval-zero",
        R,
        lambda ws: _raster_study(ws, lambda p: _write(p, b"P5\n128 160\n0\n" + b"\0" * 128 * 160)),
        PROBLEMS,
        r"maxval|could not be (read|decoded)|image|flat|constant",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-invalid-json",
        R,
        lambda ws: _raster_study(ws, sidecar="{laterality: L"),
        PROBLEMS,
        r"JSON|sidecar",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-a-list",
        R,
        lambda ws: _raster_study(ws, sidecar="[1, 2]"),
        PROBLEMS,
        r"object|sidecar",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-not-utf8",
        R,
        lambda ws: _raster_study(ws, sidecar=b'{"laterality": "\xff\xfe"}'),
        PROBLEMS,
        r"UTF-8|encoding|sidecar|decode",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-deep-nesting",
        R,
        lambda ws: _raster_study(ws, sidecar="[" * 200000 + "]" * 200000),
        PROBLEMS,
        r"nest|deep|JSON|sidecar",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-ten-megabytes",
        R,
        lambda ws: _raster_study(ws, sidecar=json.dumps({**SIDECAR, "x": "y" * (10 << 20)})),
        PROBLEMS,
        r"large|big|size|sidecar",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-is-a-folder",
        R,
        lambda ws: _sidecar_folder(ws),
        PROBLEMS,
        r"folder|directory|sidecar",
        "LCC.png.json",
        keeps_result=True,
    ),
    Case(
        "sidecar-laterality-x",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(laterality="X")),
        PROBLEMS,
        r"laterality",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-view-ap",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(view="AP")),
        OK,
        r"set aside: L-AP is not a screening",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-no-laterality",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(laterality=None)),
        PROBLEMS,
        r"laterality",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-spacing-true",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(pixel_spacing_mm=True)),
        PROBLEMS,
        r"pixel_spacing_mm",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-spacing-negative",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(pixel_spacing_mm=-0.1)),
        PROBLEMS,
        r"pixel_spacing_mm",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-spacing-text",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(pixel_spacing_mm="fine")),
        PROBLEMS,
        r"pixel_spacing_mm",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-spacing-nan",
        R,
        lambda ws: _raster_study(
            ws,
            sidecar='{"laterality": "L", "view": "CC", '
            '"pixel_spacing_mm": NaN, "patient_id": "RAST-1", "study_id": "S1"}',
        ),
        PROBLEMS,
        r"pixel_spacing_mm",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-spacing-infinite",
        R,
        lambda ws: _raster_study(
            ws,
            sidecar='{"laterality": "L", "view": "CC", '
            '"pixel_spacing_mm": 1e999, "patient_id": "RAST-1", "study_id": "S1"}',
        ),
        PROBLEMS,
        r"pixel_spacing_mm",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-bits-stored-40",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(bits_stored=40)),
        PROBLEMS,
        r"bits_stored",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-chest-wall-up",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(chest_wall="up")),
        PROBLEMS,
        r"chest_wall",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-study-date-garbage",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(study_date="yesterday")),
        PROBLEMS,
        r"study_date|date",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "sidecar-photometric-bogus",
        R,
        lambda ws: _raster_study(ws, sidecar=_sidecar(photometric="RAINBOW")),
        PROBLEMS,
        r"photometric",
        "LCC.png",
        keeps_result=True,
    ),
    Case(
        "png-without-sidecar-named",
        R,
        lambda ws: ["analyze", str(_write(ws.folder / "lonely.png", _png_bytes(160, 128))), "--out", str(ws.out)],
        NO_STUDY,
        r"needs a JSON sidecar",
        "lonely.png",
    ),
    # ---------------------------------------------------------------- folders and links
    Case(
        "empty-folder",
        F,
        lambda ws: ["analyze", str(_mkdir(ws.folder / "nothing")), "--out", str(ws.out)],
        NO_STUDY,
        r"no .*(stud|image|DICOM)|empty",
        "nothing",
    ),
    Case(
        "folder-of-non-images",
        F,
        lambda ws: ["analyze", str(_junk_folder(ws)), "--out", str(ws.out)],
        NO_STUDY,
        r"no .*(stud|image|DICOM)",
        "junk",
    ),
    Case(
        "path-does-not-exist",
        F,
        lambda ws: ["analyze", str(ws.folder / "missing"), "--out", str(ws.out)],
        NO_STUDY,
        r"does not exist|not found|no such",
        "missing",
    ),
    Case("symlink-to-itself", F, _self_link, PROBLEMS, r"link", "me.dcm", keeps_result=True),
    Case("symlink-cycle", F, _link_cycle, PROBLEMS, r"link", "a.dcm", keeps_result=True),
    Case("dangling-symlink", F, _dangling, PROBLEMS, r"link|does not exist|nothing", "gone.dcm", keeps_result=True),
    Case("folder-link-loop", F, _folder_link_loop, OK, r"4 views", None),
    Case("fifo-in-study", F, _fifo, PROBLEMS, r"not a regular file|pipe|special", "pipe.dcm", keeps_result=True),
    Case(
        "link-to-dev-zero",
        F,
        _link_to_device,
        PROBLEMS,
        r"not a regular file|device|special",
        "zero.dcm",
        keeps_result=True,
    ),
    Case(
        "folder-named-dcm",
        F,
        lambda ws: ["analyze", str(_mkdir(ws.folder / "folder.dcm")), "--out", str(ws.out)],
        NO_STUDY,
        r"no .*(stud|image|DICOM)",
        "folder.dcm",
    ),
    Case("sixty-folders-deep", F, _deep_folders, OK, r"4 views", None),
    Case("three-thousand-junk-files", F, _many_small_files, PROBLEMS, r"4 views", None),
    Case("non-utf8-names-in-batch", F, _non_utf8_batch, OK, r"2 stud|2 of 2|done", None),
    Case("batch-with-a-broken-study", F, _batch_one_broken, PROBLEMS, r"only\.dcm|broken", "broken"),
    Case(
        "batch-on-empty-root",
        F,
        lambda ws: ["analyze-batch", str(_mkdir(ws.folder / "root")), "--out", str(ws.out)],
        NO_STUDY,
        r"no .*stud",
        "root",
    ),
    # ---------------------------------------------------------------- command-line options
    *[
        Case(
            f"min-score-{value}",
            OPT,
            (lambda v: lambda ws: ["analyze", str(ws.good_study()), "--out", str(ws.out), "--min-score", v])(value),
            USAGE,
            r"min-score",
            None,
        )
        for value in ("-1", "2", "nan", "inf", "high")
    ],
    Case(
        "workers-zero",
        OPT,
        lambda ws: ["analyze-batch", str(ws.good_study()), "--out", str(ws.out), "--workers", "0"],
        USAGE,
        r"workers",
        None,
    ),
    Case(
        "workers-negative",
        OPT,
        lambda ws: ["analyze-batch", str(ws.good_study()), "--out", str(ws.out), "--workers", "-3"],
        USAGE,
        r"workers",
        None,
    ),
    Case(
        "workers-ten-thousand",
        OPT,
        lambda ws: ["analyze-batch", str(ws.good_study()), "--out", str(ws.out), "--workers", "10000", "--no-dicom"],
        OK,
        r"1 stud|1 of 1|done",
        None,
    ),
    Case(
        "out-is-a-file",
        OPT,
        lambda ws: ["analyze", str(ws.good_study()), "--out", str(_write(ws.folder / "taken", "x"))],
        USAGE,
        r"out|file|folder",
        "taken",
    ),
    Case(
        "batch-out-is-a-file",
        OPT,
        lambda ws: ["analyze-batch", str(ws.good_study()), "--out", str(_write(ws.folder / "taken", "x"))],
        USAGE,
        r"out|file|folder",
        "taken",
    ),
    Case(
        "out-under-a-file",
        OPT,
        lambda ws: ["analyze", str(ws.good_study()), "--out", str(_write(ws.folder / "taken", "x") / "sub")],
        USAGE,
        r"out|file|folder|directory",
        "taken",
    ),
    Case(
        "device-bogus",
        OPT,
        lambda ws: ["analyze", str(ws.good_study()), "--out", str(ws.out), "--device", "tpu"],
        USAGE,
        r"device",
        None,
    ),
    Case(
        "unknown-option",
        OPT,
        lambda ws: ["analyze", str(ws.good_study()), "--out", str(ws.out), "--turbo"],
        USAGE,
        r"unrecognized|turbo",
        None,
    ),
    Case("no-command", OPT, lambda ws: [], USAGE, r"required|COMMAND|command", None),
    Case(
        "export-since-garbage",
        OPT,
        lambda ws: [
            "feedback",
            "export",
            "--out",
            str(ws.out),
            "--since",
            "last week",
            "--db",
            str(ws.folder / "r.sqlite"),
        ],
        USAGE,
        r"since|date",
        None,
    ),
    Case(
        "device-cuda-without-a-gpu",
        OPT,
        lambda ws: ["analyze", str(ws.good_study()), "--out", str(ws.out), "--device", "cuda"],
        PROBLEMS,
        r"CUDA is not used: ",
        None,
    ),
    Case(
        "batch-with-two-workers-and-no-zoo",
        OPT,
        lambda ws: _two_study_batch(ws, "--workers", "2", "--zoo", str(ws.folder / "no-zoo")),
        PROBLEMS,
        r"2 failures",
        "summary.csv",
    ),
    Case(
        "pacs-url-without-a-study-uid",
        OPT,
        lambda ws: ["analyze", "http://127.0.0.1:9/dicom-web/studies/../../etc", "--out", str(ws.out)],
        PROBLEMS,
        r"URL>/studies/<StudyInstanceUID>",
        None,
    ),
    Case(
        "pacs-server-refusing",
        OPT,
        lambda ws: ["pacs", "find", f"http://127.0.0.1:{free_port()}/dicom-web"],
        PROBLEMS,
        r"connection refused",
        "127.0.0.1",
    ),
    Case(
        "zoo-does-not-exist",
        OPT,
        lambda ws: _analyze_with_zoo(ws, ws.folder / "no-zoo"),
        PROBLEMS,
        r"zoo|manifest|not found|does not exist",
        "no-zoo",
    ),
    # ---------------------------------------------------------------- zoo manifests and models
    Case(
        "zoo-entry-parent-path",
        Z,
        lambda ws: _analyze_with_zoo(
            ws, _edit_manifest(ws, lambda d: _entry(d, "single-lite").update(file="../../../../etc/passwd"))
        ),
        PROBLEMS,
        r"outside|zoo folder",
        "passwd",
    ),
    Case(
        "zoo-entry-absolute",
        Z,
        lambda ws: _analyze_with_zoo(
            ws, _edit_manifest(ws, lambda d: _entry(d, "single-lite").update(file="/etc/hostname"))
        ),
        PROBLEMS,
        r"outside|absolute|zoo folder",
        "hostname",
    ),
    Case(
        "zoo-entry-link-out",
        Z,
        lambda ws: _analyze_with_zoo(ws, _link_out_zoo(ws)),
        PROBLEMS,
        r"outside|link|zoo folder",
        "single-lite",
    ),
    Case(
        "zoo-entry-without-hash",
        Z,
        lambda ws: _analyze_with_zoo(ws, _edit_manifest(ws, lambda d: _entry(d, "single-lite").pop("sha256"))),
        PROBLEMS,
        r"sha-?256|hash",
        "single-lite",
    ),
    Case(
        "zoo-model-tampered",
        Z,
        lambda ws: _analyze_with_zoo(ws, _tampered(ws)),
        PROBLEMS,
        r"sha-?256|hash|does not match|tamper",
        "single-lite",
    ),
    Case(
        "zoo-model-missing",
        Z,
        lambda ws: _analyze_with_zoo(ws, _missing_model(ws)),
        PROBLEMS,
        r"missing|not found|does not exist",
        "single-lite",
    ),
    Case(
        "zoo-manifest-invalid-json",
        Z,
        lambda ws: _analyze_with_zoo(ws, _write(ws.folder / "zoo" / "manifest.json", "{models: [")),
        PROBLEMS,
        r"JSON|manifest",
        "manifest.json",
    ),
    Case(
        "zoo-manifest-a-list",
        Z,
        lambda ws: _analyze_with_zoo(ws, _write(ws.folder / "zoo" / "manifest.json", "[]")),
        PROBLEMS,
        r"manifest|object|models",
        "manifest.json",
    ),
    Case(
        "zoo-models-not-a-list",
        Z,
        lambda ws: _analyze_with_zoo(ws, _edit_manifest(ws, lambda d: d.update(models="all of them"))),
        PROBLEMS,
        r"manifest|models|list",
        "manifest.json",
    ),
    Case(
        "zoo-model-truncated-rehashed",
        Z,
        lambda ws: _analyze_with_zoo(ws, _rehashed(ws, "single-lite", lambda b, _: b[: len(b) // 2])),
        PROBLEMS,
        r"could not be loaded|ONNX|model",
        "single-lite",
    ),
    Case(
        "zoo-model-not-onnx-rehashed",
        Z,
        lambda ws: _analyze_with_zoo(ws, _rehashed(ws, "nipple-lite", lambda b, _: b"#!/bin/sh\necho pwned\n")),
        PROBLEMS,
        r"could not be loaded|ONNX|model",
        "nipple-lite",
    ),
    Case(
        "zoo-model-of-another-task",
        Z,
        lambda ws: _analyze_with_zoo(
            ws, _rehashed(ws, "nipple-lite", lambda b, zoo: (zoo / "malignancy-lite.onnx").read_bytes())
        ),
        PROBLEMS,
        r"input|output|shape|does not fit|model",
        "nipple-lite",
    ),
    # ---------------------------------------------------------------- feedback batches
    Case(
        "batch-id-is-a-path",
        B,
        lambda ws: _train_on(ws, _batch_edit(ws, lambda m: m.update(batch_id="../../../../tmp/escaped"), resign=False)),
        PROBLEMS,
        r"batch id",
        "batch",
    ),
    Case(
        "batch-image-absolute-path",
        B,
        lambda ws: _train_on(ws, _batch_coco(ws, "/etc/passwd")),
        PROBLEMS,
        r"not a file of the batch",
        "passwd",
    ),
    Case(
        "batch-image-parent-path",
        B,
        lambda ws: _train_on(ws, _batch_coco(ws, "../../etc/passwd")),
        PROBLEMS,
        r"not a file of the batch",
        "passwd",
    ),
    Case(
        "batch-symlink-inside", B, lambda ws: _train_on(ws, _batch_symlink(ws)), PROBLEMS, r"symbolic link", "00001.dcm"
    ),
    Case(
        "batch-file-edited-unsigned",
        B,
        lambda ws: _train_on(ws, _batch_edited(ws)),
        PROBLEMS,
        r"hash|sha-?256|does not match|changed",
        "annotations.json",
    ),
    Case(
        "batch-manifest-missing",
        B,
        lambda ws: _train_on(ws, _batch_without_manifest(ws)),
        PROBLEMS,
        r"manifest",
        "manifest.json",
    ),
    Case(
        "batch-zip-slip",
        B,
        lambda ws: _train_on(ws, _batch_zip(ws, {"../../escaped.txt": b"x"})),
        PROBLEMS,
        r"outside|escap|\.\.",
        "escaped.txt",
    ),
    Case(
        "batch-zip-absolute-entry",
        B,
        lambda ws: _train_on(ws, _batch_zip(ws, {"/tmp/abs-escaped.txt": b"x"})),
        PROBLEMS,
        r"outside|escap|absolute",
        "abs-escaped.txt",
    ),
    Case(
        "batch-not-a-zip",
        B,
        lambda ws: _train_on(ws, _write(ws.folder / "fake.zip", "PK but not really")),
        PROBLEMS,
        r"zip",
        "fake.zip",
    ),
    Case(
        "batch-annotations-not-coco",
        B,
        lambda ws: _train_on(ws, _batch_replaced(ws, "annotations.json", b"[]")),
        PROBLEMS,
        r"layout",
        "annotations.json",
    ),
    Case(
        "batch-does-not-exist",
        B,
        lambda ws: _train_on(ws, ws.folder / "no-batch"),
        PROBLEMS,
        r"does not exist|not found|no such",
        "no-batch",
    ),
    # ---------------------------------------------------------------- review stores
    Case(
        "store-is-a-text-file",
        S,
        lambda ws: ["feedback", "stats", "--db", str(_write(ws.folder / "r.sqlite", "hello " * 1000))],
        PROBLEMS,
        r"not a (review )?database|database",
        "r.sqlite",
    ),
    Case(
        "store-is-a-folder",
        S,
        lambda ws: ["feedback", "stats", "--db", str(_mkdir(ws.folder / "r.sqlite"))],
        PROBLEMS,
        r"folder|directory|database",
        "r.sqlite",
    ),
    Case(
        "store-from-the-future",
        S,
        lambda ws: ["feedback", "stats", "--db", str(_sqlite_with_schema(ws.folder / "r.sqlite", 999))],
        PROBLEMS,
        r"newer",
        "r.sqlite",
    ),
    Case(
        "store-truncated",
        S,
        lambda ws: ["feedback", "stats", "--db", str(_truncated_store(ws))],
        PROBLEMS,
        r"database|malformed|damaged",
        "r.sqlite",
    ),
    Case(
        "store-foreign-sqlite",
        S,
        lambda ws: ["feedback", "stats", "--db", str(_foreign_sqlite(ws))],
        PROBLEMS,
        r"not a review|schema_version|database",
        "r.sqlite",
    ),
    Case(
        "store-unknown-url-scheme",
        S,
        lambda ws: ["feedback", "stats", "--db", "mysql://db.example/reviews"],
        PROBLEMS,
        r"mysql|scheme|database",
        None,
    ),
    Case(
        "export-into-a-file",
        S,
        lambda ws: [
            "feedback",
            "export",
            "--out",
            str(_write(ws.folder / "taken", "x")),
            "--db",
            str(_fresh_store(ws)),
        ],
        PROBLEMS,
        r"exists|file|folder|out",
        "taken",
    ),
]


# ------------------------------------------------------------------------- builders used above


def _rle_huge(ws: Workspace) -> Path:
    ds = ws.mammogram(Rows=65535, Columns=65535)
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64 + b"\x00" * 16])
    ds["PixelData"].is_undefined_length = True
    ds.file_meta = pydicom.dataset.FileMetaDataset(ds.file_meta)
    ds.file_meta.TransferSyntaxUID = RLELossless
    path = ws.folder / "rle-huge.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _png_bytes(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    pixels = factory.breast_phantom(height, width, "left", bits=8).astype(np.uint8)
    image = Image.fromarray(pixels)
    (image.convert(mode) if mode != "L" else image).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg_declaring(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_blank(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width), 90, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _sidecar_fifo(ws: Workspace) -> list[str]:
    argv = _raster_study(ws)
    side = ws.folder / "raster" / "LCC.png.json"
    side.unlink()
    os.mkfifo(side)  # reading it would wait for a writer forever
    return argv


def _blank_dicom(ws: Workspace) -> Path:
    ds = ws.mammogram()
    ds.PixelData = b"\x00" * len(ds.PixelData)
    return _save(ds, ws.folder / "blank.dcm")


def _sidecar_folder(ws: Workspace) -> list[str]:
    argv = _raster_study(ws)
    side = ws.folder / "raster" / "LCC.png.json"
    side.unlink()
    side.mkdir()
    return argv


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _junk_folder(ws: Workspace) -> Path:
    folder = _mkdir(ws.folder / "junk")
    (folder / "readme.txt").write_text("nothing here")
    (folder / "data.bin").write_bytes(os.urandom(2048))
    return folder


def _link_out_zoo(ws: Workspace) -> Path:
    manifest = ws.zoo()
    data = json.loads(manifest.read_text())
    entry = _entry(data, "single-lite")
    outside = ws.folder / "outside.onnx"
    model = manifest.parent / entry["file"]
    shutil.move(model, outside)
    model.symlink_to(outside)
    return manifest


def _tampered(ws: Workspace) -> Path:
    manifest = ws.zoo()
    entry = _entry(json.loads(manifest.read_text()), "single-lite")
    path = manifest.parent / entry["file"]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    return manifest


def _missing_model(ws: Workspace) -> Path:
    manifest = ws.zoo()
    entry = _entry(json.loads(manifest.read_text()), "single-lite")
    (manifest.parent / entry["file"]).unlink()
    return manifest


def _batch_edit(ws: Workspace, edit: Callable[[dict], None], resign: bool = True) -> Path:
    batch = ws.batch()
    manifest = json.loads((batch / "manifest.json").read_text())
    edit(manifest)
    (batch / "manifest.json").write_text(json.dumps(manifest))
    if resign:
        _resign(batch)
    return batch


def _batch_coco(ws: Workspace, file_name: str) -> Path:
    batch = ws.batch()
    coco = json.loads((batch / "annotations.json").read_text())
    coco["images"][0]["file_name"] = file_name
    (batch / "annotations.json").write_text(json.dumps(coco))
    _resign(batch)
    return batch


def _batch_symlink(ws: Workspace) -> Path:
    batch = ws.batch()
    image = sorted((batch / "images").iterdir())[0]
    image.unlink()
    image.symlink_to("/etc/hostname")
    _resign(batch)
    return batch


def _batch_edited(ws: Workspace) -> Path:
    batch = ws.batch()
    coco = json.loads((batch / "annotations.json").read_text())
    for annotation in coco["annotations"]:
        annotation["decision"] = "rejected"
    (batch / "annotations.json").write_text(json.dumps(coco))
    return batch


def _batch_replaced(ws: Workspace, name: str, content: bytes) -> Path:
    batch = ws.batch()
    (batch / name).write_bytes(content)
    _resign(batch)
    return batch


def _batch_without_manifest(ws: Workspace) -> Path:
    batch = ws.batch()
    (batch / "manifest.json").unlink()
    return batch


def _truncated_store(ws: Workspace) -> Path:
    path = _fresh_store(ws)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _fresh_store(ws: Workspace) -> Path:
    from mommi.feedback.store import open_store

    path = ws.folder / "r.sqlite"
    with open_store(path):
        pass
    return path


def _foreign_sqlite(ws: Workspace) -> Path:
    import sqlite3

    path = ws.folder / "r.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    return path


def kinds_by_family() -> dict[Family, int]:
    counts = {family: 0 for family in Family}
    for case in CASES:
        counts[case.family] += 1
    return counts
