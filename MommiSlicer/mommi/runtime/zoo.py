"""The model zoo: ``model_zoo/manifest.json`` and the ONNX files it lists.

Every file is checked against the SHA-256 in the manifest before anything may
load it, so a tampered, truncated or swapped model is refused with its name. The
check hashes the very bytes that are then loaded (``verified_model_bytes``): a file
swapped between the check and the load cannot run. A manifest entry must name a
file inside the zoo folder (no absolute path, no ``..``, no link leading out) and
carry a SHA-256; anything else is refused, never loaded unchecked.
The zoo is the one a caller names (``--zoo``, the reader's or the Slicer module's zoo setting), else
``MOMMI_MODEL_ZOO`` (a folder or a manifest file), else the ``model_zoo/`` folder of the source checkout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mommi.errors import MommiError
from mommi.runtime.card_metrics import metrics_problem

ZOO_ENV = "MOMMI_MODEL_ZOO"
MANIFEST_NAME = "manifest.json"
SUPPORTED_SCHEMA = 1
#: where `mommi zoo record-metrics` writes each model's card (``cards/<name>.md``)
CARDS_DIR = "cards"
#: the JSON schema every manifest is checked against (shipped with the engine; model_zoo/manifest.json names it)
SCHEMA_PATH = Path(__file__).with_name("zoo_manifest.schema.json")


def default_manifest_path() -> Path:
    configured = os.environ.get(ZOO_ENV)
    if configured:
        path = Path(configured)
        return path / MANIFEST_NAME if path.is_dir() else path
    # MommiSlicer/mommi/runtime/zoo.py -> <checkout>/model_zoo/manifest.json
    return Path(__file__).resolve().parents[3] / "model_zoo" / MANIFEST_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest as a dict (an empty zoo when the file does not exist yet).

    Raises:
        ZooError: the file cannot be read, is not JSON, or breaks ``zoo_manifest.schema.json``.
    """
    if not path.exists():
        return {"schema_version": SUPPORTED_SCHEMA, "zoo_version": "0.0.0", "models": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ZooError(f"the model zoo manifest {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ZooError(f"the model zoo manifest {path} is not a zoo manifest (a JSON object whose 'models' is a list)")
    problem = schema_problem(data, path.parent)
    if problem:
        raise ZooError(f"{path}: {problem}")
    return data


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def schema_problem(data: dict[str, Any], zoo_folder: Path) -> str | None:
    """The first way ``data`` breaks ``zoo_manifest.schema.json``, in words (None: it follows it). A bad
    model entry is described as ``entry_problem`` words it, so the refusal reads the same everywhere."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = list(error.absolute_path)
    if where[:1] == ["schema_version"]:
        return f"manifest schema {data.get('schema_version')!r} is not supported (expected {SUPPORTED_SCHEMA})"
    if where[:1] == ["models"] and len(where) > 1 and isinstance(where[1], int):
        entry = data["models"][where[1]]
        specific = entry_problem(entry, zoo_folder) if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        return specific or f"model {name!r}: {error.message} (at {'/'.join(map(str, where))})"
    return f"the manifest does not follow its schema: {error.message} (at {'/'.join(map(str, where)) or 'top'})"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str, ...]  # a string names a free dimension ("batch")
    dtype: str


@dataclass(frozen=True)
class ZooEntry:
    """A model entry of a validated manifest, typed: callers read fields, not ``entry["inputs"][0]``."""

    name: str
    file: str
    sha256: str
    task: str | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def of(cls, entry: dict[str, Any]) -> ZooEntry:
        def tensors(key: str) -> tuple[TensorSpec, ...]:
            return tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in entry.get(key, []))

        return cls(
            entry["name"], entry["file"], entry["sha256"], entry.get("task"), tensors("inputs"), tensors("outputs")
        )

    def input(self, index: int = 0) -> TensorSpec:
        if index >= len(self.inputs):
            raise ZooError(f"model {self.name!r}: the manifest lists no input {index}")
        return self.inputs[index]


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Atomic write, so that a reader never sees half a manifest."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


class ZooError(MommiError):
    """A model that is missing from the zoo, or whose file does not match its SHA-256."""


class ModelNotInZooError(ZooError):
    """The manifest does not list the model: a zoo that has not shipped it yet (callers may fall back).
    A listed model whose file is missing or altered is a plain ZooError: never silently skipped."""


def manifest_path_of(path: Path | None) -> Path | None:
    """A zoo given as its folder or its manifest file -> the manifest file (None: the default zoo)."""
    if path is None:
        return None
    return path / MANIFEST_NAME if path.is_dir() else path


def chosen_manifest(location: Path) -> Path:
    """The manifest of a zoo a user chose (its folder or its manifest file), after reading and checking it.

    Unlike ``read_manifest``, a missing manifest is an error: a zoo chosen in a front end's settings that is
    not there (a typo, an unmounted share) must be said so, not become an empty zoo whose first model is
    "not in the zoo".

    Raises:
        ZooError: no manifest at ``location``, or one that cannot be read or breaks the schema.
    """
    manifest = location / MANIFEST_NAME if location.is_dir() else location
    if not manifest.is_file():
        raise ZooError(
            f"no model zoo manifest at {manifest}: choose a zoo folder (the one holding {MANIFEST_NAME}) or its "
            "manifest file"
        )
    read_manifest(manifest)
    return manifest


def entry_problem(entry: Any, zoo_folder: Path) -> str | None:
    """Why a manifest entry cannot be trusted (None: it names a file inside the zoo and carries a SHA-256)."""
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("name", "file")):
        return "an entry without a name or file"
    digest = entry.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return f"model {entry['name']!r} has no valid SHA-256 in the manifest; refusing to load it unchecked"
    relative = Path(entry["file"])
    inside = zoo_folder.resolve()
    if relative.is_absolute() or ".." in relative.parts or inside not in (zoo_folder / relative).resolve().parents:
        return (
            f"model {entry['name']!r}: file {entry['file']!r} is outside the zoo folder {zoo_folder}; "
            "refusing to load it"
        )
    return None


def _entry(name: str, manifest: Path) -> dict[str, Any]:
    data = read_manifest(manifest)
    models = data.get("models", []) if isinstance(data, dict) else []
    entry = next((m for m in models if isinstance(m, dict) and m.get("name") == name), None)
    if entry is None:
        known = ", ".join(str(m.get("name")) for m in models if isinstance(m, dict)) or "none"
        raise ModelNotInZooError(f"model {name!r} is not in the zoo {manifest} (models: {known})")
    problem = entry_problem(entry, manifest.parent)
    if problem:
        raise ZooError(f"{manifest}: {problem}")
    return entry


def verified_model_bytes(name: str, manifest: Path | None = None) -> tuple[bytes, Path, dict[str, Any]]:
    """The bytes of model ``name`` (read once, hashed, and what the caller loads), its path and its entry;
    raises ZooError naming it."""
    manifest = manifest or default_manifest_path()
    entry = _entry(name, manifest)
    path = manifest.parent / entry["file"]
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ZooError(f"model {name!r}: file {path} is missing") from None
    except OSError as exc:
        raise ZooError(f"model {name!r}: file {path} cannot be read ({exc.strerror or exc})") from exc
    if hashlib.sha256(content).hexdigest() != entry["sha256"]:
        raise ZooError(
            f"model {name!r}: {path} does not match its SHA-256 in {manifest} (modified or damaged); "
            "refusing to load it"
        )
    return content, path, entry


def verified_model_path(name: str, manifest: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The file of model ``name`` after checking its SHA-256; raises ZooError naming it. Loaders should
    prefer ``verified_model_bytes``: a path can be swapped after this check."""
    _, path, entry = verified_model_bytes(name, manifest)
    return path, entry


@dataclass
class ModelStatus:
    name: str
    file: str
    present: bool
    sha256_ok: bool
    size_bytes: int | None

    @property
    def ok(self) -> bool:
        return self.present and self.sha256_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "present": self.present,
            "sha256_ok": self.sha256_ok,
            "size_bytes": self.size_bytes,
            "ok": self.ok,
        }


@dataclass
class ZooStatus:
    manifest: Path
    zoo_version: str | None = None
    models: list[ModelStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": str(self.manifest),
            "zoo_version": self.zoo_version,
            "models": [m.to_dict() for m in self.models],
            "problems": list(self.problems),
            "ok": self.ok,
        }


def zoo_status(manifest: Path | None = None) -> ZooStatus:
    """Read the manifest and verify every listed file; never raises."""
    manifest = manifest or default_manifest_path()
    status = ZooStatus(manifest=manifest)
    if not manifest.exists():
        status.problems.append(f"no model zoo manifest at {manifest}")
        return status
    try:
        data = read_manifest(manifest)
    except ZooError as exc:
        status.problems.append(str(exc))
        return status
    # read_manifest checked the schema version with the rest of the schema
    status.zoo_version = str(data.get("zoo_version", ""))
    for entry in data.get("models", []):
        problem = entry_problem(entry, manifest.parent)
        if problem:
            status.problems.append(problem)
            continue
        path = manifest.parent / entry["file"]
        present = path.is_file()
        sha_ok = present and sha256_of(path) == entry.get("sha256")
        status.models.append(
            ModelStatus(entry["name"], entry["file"], present, sha_ok, path.stat().st_size if present else None)
        )
        if not present:
            status.problems.append(f"model {entry['name']}: file {entry['file']} is missing")
        elif not sha_ok:
            status.problems.append(
                f"model {entry['name']}: {entry['file']} does not match its SHA-256 in the manifest "
                "(modified or damaged); it will not be loaded"
            )
        card_problem = _card_problem(entry, manifest.parent)
        if card_problem:
            status.problems.append(card_problem)
    return status


def _card_problem(entry: dict[str, Any], zoo_folder: Path) -> str | None:
    """Whether the model card describes the file the manifest lists, with the metrics the manifest records: a
    model exported again (retrained, or fine-tuned on feedback) keeps the old card, with the old hash and
    metrics, unless the card is regenerated; a model evaluated again, or a card edited by hand, states numbers
    the manifest does not hold. `mommi export` writes a new entry without a card: the card left at the
    conventional place (``cards/<name>.md``) is still the one a reader finds, so it is checked too."""
    card_name = entry.get("card") or f"{CARDS_DIR}/{entry['name']}.md"
    if not entry.get("card") and not (zoo_folder / card_name).is_file():
        return None  # a model without a card (a zoo being built): nothing stale to read
    card = zoo_folder / str(card_name)
    if not card.is_file():
        return f"model {entry['name']}: its card {card_name} is missing"
    text = card.read_text(encoding="utf-8", errors="replace")
    line = next((ln for ln in text.splitlines() if f"`{entry['file']}`" in ln and "SHA-256" in ln), None)
    found = re.search(r"SHA-256 `([0-9a-f]{64})`", line) if line else None
    if found is None:
        return f"model {entry['name']}: its card {card_name} does not state the SHA-256 of {entry['file']}"
    if found.group(1) != entry["sha256"]:
        return (
            f"model {entry['name']}: its card {card_name} describes another file (SHA-256 {found.group(1)[:12]}...) "
            f"than the manifest lists ({entry['sha256'][:12]}...): its metrics are not this model's; regenerate the "
            "card (mommi zoo record-metrics)"
        )
    return metrics_problem(entry, str(card_name), text)
