"""Shared pytest set-up: offscreen Qt, fixture factories, the real-data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dicom_factory import Patient  # noqa: E402  (Testing/ is on sys.path under pytest)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def patient() -> Patient:
    return Patient()


@pytest.fixture
def mias_dir() -> Path:
    folder = SHARED_DATA / "mias"
    if not (folder / "Info.txt").is_file():
        pytest.skip(f"real mini-MIAS data not found at {folder} (only present on project machines)")
    return folder
