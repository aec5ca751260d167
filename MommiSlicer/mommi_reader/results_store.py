"""Where the reader keeps analysis results, and when a saved result can be shown again.

A study's results folder holds what ``mommi.runtime.outputs.write_outputs``
writes (``result.json`` last, so its presence means the folder is complete).
Re-opening a study reads it back instead of analysing again, but only when it
was made by the same models (zoo version and every model's SHA-256) with the
same minimum score; anything else is analysed afresh, because showing findings
of other models next to this zoo's would mislead the reader.

Locations (a setting): ``cache`` (default) a per-user cache folder keyed by
patient and study UID, so read-only study folders (CDs, PACS exports) work and
study folders stay clean; ``beside`` ``<study>/../<study name>-mommi``;
``folder`` a chosen folder, keyed like the cache.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from mommi.runtime.batch import folder_name
from mommi.runtime.outputs import MAPS_FILE, RESULT_FILE, read_maps, results_cache_root
from mommi.runtime.pipeline import reporting_threshold
from mommi.runtime.result import StudyResult
from mommi.runtime.zoo import default_manifest_path, manifest_path_of, read_manifest
from mommi.study.model import Study

LOCATIONS = ("cache", "beside", "folder")


def cache_root() -> Path:
    """The per-user cache folder for results, shared with the Slicer module (``mommi.runtime.outputs``)."""
    return results_cache_root()


def results_folder(study: Study, location: str = "cache", folder: str | Path | None = None) -> Path:
    """The folder that holds (or will hold) this study's results."""
    if location == "beside":
        files = [image.path for image in study.images.values()]
        parent = files[0].parent if files else Path.cwd()
        return parent.parent / f"{parent.name}-mommi"
    root = Path(folder).expanduser() if location == "folder" and folder else cache_root()
    return root / folder_name(study)


def zoo_fingerprint(zoo: Path | None) -> tuple[str, dict[str, str]]:
    """(zoo version, model name -> SHA-256) of the zoo the pipeline will use, from its manifest only."""
    manifest = read_manifest(manifest_path_of(zoo) or default_manifest_path())
    models = {str(m.get("name")): str(m.get("sha256")) for m in manifest.get("models", [])}
    return str(manifest.get("zoo_version", "unknown")), models


def load_saved(folder: Path, study_uid: str, zoo: Path | None) -> tuple[StudyResult | None, str]:
    """The saved result of this study with its maps, or (None, why it cannot be used)."""
    path = folder / RESULT_FILE
    if not path.is_file():
        return None, "no saved result"
    try:
        result = StudyResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
        probs, masks = read_maps(folder / MAPS_FILE)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # unreadable, other schema, bad npz
        return None, f"saved result unreadable ({exc})"
    if result.study_uid != study_uid:
        return None, "saved result belongs to another study"
    version, models = zoo_fingerprint(zoo)
    if result.zoo_version != version or any(models.get(name) != sha for name, sha in result.models.items()):
        return None, "saved result was made by other models"
    if abs(result.min_score - reporting_threshold(manifest_path_of(zoo))[0]) > 1e-9:
        return None, "saved result used another minimum score"
    if set(probs) != set(result.views):
        return None, "saved maps do not match the result"
    result.maps, result.masks = probs, masks
    return result, "saved result"
