"""Compressed pixel data decodes with the base install, to the same pixels as uncompressed.

Fixtures are encoded here: RLE, JPEG-LS and JPEG 2000 by pydicom itself (its
encoders use pyjpegls and pylibjpeg-openjpeg), JPEG baseline and JPEG lossless by
libjpeg-turbo through imagecodecs, since pydicom has no JPEG encoder.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

import dicom_factory as f
from mommi.study import View, read_image

LOSSLESS_BY_PYDICOM = [RLELossless, JPEGLSLossless, JPEG2000Lossless]


def _reference(tmp_path: Path, patient: f.Patient, bits: int = 12):
    ds = f.mammogram(patient, "R", "MLO", rows=128, cols=96)
    if bits == 8:
        stored = np.frombuffer(ds.PixelData, dtype=np.uint16) >> 4
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = stored.astype(np.uint8).tobytes()
        ds.WindowCenter, ds.WindowWidth = 128, 256
    path = f.write(ds, tmp_path / "plain.dcm")
    return ds, read_image(path)


@pytest.mark.parametrize("syntax", LOSSLESS_BY_PYDICOM, ids=lambda s: s.name)
def test_lossless_syntaxes_encoded_by_pydicom(tmp_path: Path, patient: f.Patient, syntax) -> None:
    ds, plain = _reference(tmp_path, patient)
    image = read_image(f.write(ds, tmp_path / "c.dcm", transfer_syntax=syntax))
    assert image.transfer_syntax == syntax.name
    assert image.view is View.R_MLO
    assert np.array_equal(image.pixels, plain.pixels)


def test_jpeg_ls_near_lossless(tmp_path: Path, patient: f.Patient) -> None:
    ds, plain = _reference(tmp_path, patient)
    path = tmp_path / "nl.dcm"
    ds2 = pydicom.dcmread(f.write(ds, path))
    ds2.compress(JPEGLSNearLossless, jls_error=2)
    ds2.save_as(path)
    image = read_image(path)
    assert np.max(np.abs(image.pixels - plain.pixels)) <= 3 / 4095 + 1e-6


def test_jpeg2000_lossy(tmp_path: Path, patient: f.Patient) -> None:
    ds, plain = _reference(tmp_path, patient)
    path = f.write(ds, tmp_path / "j2k.dcm")
    ds2 = pydicom.dcmread(path)
    ds2.compress(JPEG2000, j2k_psnr=[60])
    ds2.save_as(path)
    image = read_image(path)
    assert image.transfer_syntax == JPEG2000.name
    assert np.mean(np.abs(image.pixels - plain.pixels)) < 0.01


def _encapsulated(ds, frame: bytes, syntax, path: Path) -> Path:
    ds = pydicom.dcmread(f.write(ds, path))
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = syntax
    if syntax == JPEGBaseline8Bit:
        ds.LossyImageCompression = "01"
    ds.save_as(path)
    return path


@pytest.mark.parametrize("syntax,predictor", [(JPEGLosslessSV1, 1), (JPEGLossless, 6)], ids=["SV1", "process14-p6"])
def test_jpeg_lossless(tmp_path: Path, patient: f.Patient, syntax, predictor: int) -> None:
    ds, plain = _reference(tmp_path, patient)
    stored = np.frombuffer(ds.PixelData, dtype=np.uint16).reshape(ds.Rows, ds.Columns)
    frame = imagecodecs.jpeg8_encode(stored, lossless=True, predictor=predictor, bitspersample=12)
    image = read_image(_encapsulated(ds, frame, syntax, tmp_path / "ll.dcm"))
    assert image.transfer_syntax == syntax.name
    assert np.array_equal(image.pixels, plain.pixels)


def test_jpeg_baseline_8bit(tmp_path: Path, patient: f.Patient) -> None:
    ds, plain = _reference(tmp_path, patient, bits=8)
    stored = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(ds.Rows, ds.Columns)
    frame = imagecodecs.jpeg8_encode(stored, level=95)
    image = read_image(_encapsulated(ds, frame, JPEGBaseline8Bit, tmp_path / "jb.dcm"))
    assert image.transfer_syntax == JPEGBaseline8Bit.name
    assert np.mean(np.abs(image.pixels - plain.pixels)) < 0.02


def test_jpeg_extended_12bit(tmp_path: Path, patient: f.Patient) -> None:
    ds, plain = _reference(tmp_path, patient)
    stored = np.frombuffer(ds.PixelData, dtype=np.uint16).reshape(ds.Rows, ds.Columns)
    frame = imagecodecs.jpeg8_encode(stored, level=95, bitspersample=12)
    image = read_image(_encapsulated(ds, frame, JPEGExtended12Bit, tmp_path / "je.dcm"))
    assert np.mean(np.abs(image.pixels - plain.pixels)) < 0.02
