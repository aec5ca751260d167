"""A copy of the shipped model zoo for tests that edit its manifest (a manifest may only name files inside
its own folder, so the model files are copied, not referred to)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mommi.runtime.zoo import default_manifest_path, read_manifest


def copy_zoo(folder: Path, edit: Callable[[dict[str, Any]], None] | None = None, cards: bool = False) -> Path:
    """The shipped ONNX files and manifest in ``folder`` (with the cards if asked), the manifest changed by
    ``edit``; returns the manifest's path."""
    shipped = default_manifest_path().parent
    folder.mkdir(parents=True, exist_ok=True)
    data = read_manifest(default_manifest_path())
    for entry in data["models"]:
        shutil.copy2(shipped / entry["file"], folder / entry["file"])
    if cards:
        shutil.copytree(shipped / "cards", folder / "cards", dirs_exist_ok=True)
    if edit is not None:
        edit(data)
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return folder / "manifest.json"
