"""Which Python packages MommiSlicer needs inside Slicer, and how to install them on request.

Slicer ships its own Python without ONNX Runtime, pydicom's JPEG plugins or highdicom. We
never install at import time (a module that pip-installs while Slicer starts blocks the
application and surprises the user); the module asks, and installs only after the user
agreed. The decision logic is plain Python here so it is tested in CI:

- ``requirements_for(platform, machine, want_gpu, team_store=...)``: the engine's requirements plus
  exactly one ONNX Runtime: ``onnxruntime-gpu`` only where PyPI has CUDA wheels (Linux and Windows on
  x86_64), ``onnxruntime`` everywhere else (macOS, ARM) even when a GPU was asked for; plus psycopg
  when the review store is a team's PostgreSQL server (``team_store_configured()``).
- ``missing(requirements)``: the ones not satisfied by what is installed.
- ``restart_needed(installed)``: installing over a module already imported in this process
  (numpy, or the other ONNX Runtime) only takes effect after a restart.
- ``installer()``: ``slicer.packaging.pip_ensure`` where the Slicer has it (5.12 and newer),
  ``slicer.util.pip_install`` otherwise (5.10, 5.11).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from MommiSlicerLib.paths import resources_dir

REQUIREMENTS = "requirements.txt"
REQUIREMENTS_CPU = "requirements-cpu.txt"
REQUIREMENTS_GPU = "requirements-gpu.txt"
REQUIREMENTS_TEAM = "requirements-team.txt"
#: (platform prefix, machine) pairs for which onnxruntime-gpu publishes CUDA wheels
CUDA_WHEEL_PLATFORMS = {("linux", "x86_64"), ("linux", "amd64"), ("win32", "amd64"), ("win32", "x86_64")}
#: distribution name -> top-level modules it provides (for the restart check)
IMPORT_NAMES = {
    "numpy": ("numpy",),
    "pydicom": ("pydicom",),
    "pylibjpeg": ("pylibjpeg",),
    "pylibjpeg-libjpeg": ("libjpeg",),
    "pylibjpeg-openjpeg": ("openjpeg",),
    "pylibjpeg-rle": ("rle",),
    "opencv-python-headless": ("cv2",),
    "scipy": ("scipy",),
    "highdicom": ("highdicom",),
    "tqdm": ("tqdm",),
    "jsonschema": ("jsonschema",),
    "onnxruntime": ("onnxruntime",),
    "onnxruntime-gpu": ("onnxruntime",),
    "psycopg": ("psycopg",),
}


def read_requirements(path: Path) -> list[str]:
    """Requirement lines of a requirements file (comments and blank lines dropped)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def cuda_wheel_available(platform: str, machine: str) -> bool:
    """Whether onnxruntime-gpu has a CUDA wheel for this platform (``sys.platform``, ``platform.machine()``)."""
    system = "win32" if platform.startswith("win") else "linux" if platform.startswith("linux") else platform
    return (system, machine.lower()) in CUDA_WHEEL_PLATFORMS


def requirements_for(
    platform: str, machine: str, want_gpu: bool, folder: Path | None = None, team_store: bool = False
) -> list[str]:
    """The engine's requirements, the one ONNX Runtime that fits this computer and choice, and the
    PostgreSQL driver when the review store is a team's server."""
    folder = folder or resources_dir()
    runtime = REQUIREMENTS_GPU if want_gpu and cuda_wheel_available(platform, machine) else REQUIREMENTS_CPU
    team = read_requirements(folder / REQUIREMENTS_TEAM) if team_store else []
    return read_requirements(folder / REQUIREMENTS) + read_requirements(folder / runtime) + team


def team_store_configured(env: dict[str, str] | None = None) -> bool:
    """Whether the review store is a PostgreSQL URL (MOMMI_REVIEW_DB or the settings file): its driver is
    then needed too. A settings file that cannot be read is the store's own error, reported when it opens."""
    try:
        from mommi.feedback.store import ReviewStoreError, default_store_location
    except ImportError:  # the engine's own packages are not installed yet: nothing is configured through it
        return False
    try:
        return isinstance(default_store_location(None, env), str)
    except ReviewStoreError:
        return False


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a requirement line ("pydicom>=3.0,<4" -> "pydicom")."""
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def satisfied(requirement: str, version_of: Callable[[str], str | None] | None = None) -> bool:
    """Whether an installed distribution satisfies ``requirement`` (name and version range)."""
    version_of = version_of or _installed_version
    installed = version_of(requirement_name(requirement))
    if installed is None:
        return False
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pragma: no cover - Slicer bundles packaging; without it, presence is enough
        return True
    return Requirement(requirement).specifier.contains(installed, prereleases=True)


def missing(requirements: Iterable[str], version_of: Callable[[str], str | None] | None = None) -> list[str]:
    return [r for r in requirements if not satisfied(r, version_of)]


def not_ready(
    folder: Path | None = None, version_of: Callable[[str], str | None] | None = None, team_store: bool = False
) -> list[str]:
    """What is missing before an analysis can run: engine requirements, an ONNX Runtime (either one), and
    the PostgreSQL driver for a team store."""
    folder = folder or resources_dir()
    wanted = read_requirements(folder / REQUIREMENTS)
    if team_store:
        wanted += read_requirements(folder / REQUIREMENTS_TEAM)
    todo = missing(wanted, version_of)
    runtimes = read_requirements(folder / REQUIREMENTS_CPU) + read_requirements(folder / REQUIREMENTS_GPU)
    if not any(satisfied(r, version_of) for r in runtimes):
        todo.append(runtimes[0])
    return todo


def conflicting_runtime(
    requirements: Sequence[str], version_of: Callable[[str], str | None] | None = None
) -> str | None:
    """The other ONNX Runtime if it is installed (the two packages overwrite each other's files)."""
    version_of = version_of or _installed_version
    names = {requirement_name(r) for r in requirements}
    for wanted, other in (("onnxruntime", "onnxruntime-gpu"), ("onnxruntime-gpu", "onnxruntime")):
        if wanted in names and version_of(other) is not None:
            return other
    return None


def restart_needed(installed: Iterable[str], loaded: Iterable[str] | None = None) -> list[str]:
    """Requirements whose modules were already imported in this process: the new files load only after a restart."""
    loaded = set(sys.modules if loaded is None else loaded)
    return [
        r for r in installed if any(m in loaded for m in IMPORT_NAMES.get(requirement_name(r), (requirement_name(r),)))
    ]


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def installer(slicer_module: object) -> tuple[str, Callable[[list[str]], None]]:
    """(how, install function) for this Slicer: ``slicer.packaging.pip_ensure`` (Slicer 5.12 and newer) if
    it exists, else ``slicer.util.pip_install``.

    The user has already agreed in the module's own dialog, and the module says once whether a restart
    is needed, so pip_ensure's own install prompt and restart prompt are both off (two dialogs otherwise).
    """
    packaging = getattr(slicer_module, "packaging", None)
    if packaging is None:
        try:
            packaging = importlib.import_module("slicer.packaging")
        except ImportError:
            packaging = None
    ensure = getattr(packaging, "pip_ensure", None)
    if callable(ensure):

        def run_ensure(requirements: list[str], ensure: Callable = ensure) -> None:
            # pip_ensure takes requirement strings or packaging Requirements (Slicer/Base/Python/slicer/packaging.py)
            ensure(list(requirements), prompt_install=False, prompt_restart=False, requester="MommiSlicer")

        return "slicer.packaging.pip_ensure", run_ensure
    util = getattr(slicer_module, "util")

    def run_pip_install(requirements: list[str]) -> None:
        # no shell runs pip here, so "<" and ">" need no quotes; requirement lines hold no spaces
        util.pip_install(" ".join(r.replace(" ", "") for r in requirements))

    return "slicer.util.pip_install", run_pip_install


def install_message(requirements: Sequence[str], conflict: str | None) -> str:
    """What the confirmation dialog says before anything is installed."""
    text = (
        "MommiSlicer needs these Python packages in Slicer's Python environment:\n\n  "
        + "\n  ".join(requirements)
        + "\n\nThey are downloaded from PyPI (several hundred MB with "
        "ONNX Runtime). Install them now?"
    )
    if conflict:
        text += (
            f"\n\n{conflict} is installed and will be uninstalled first: the two ONNX Runtime "
            "packages overwrite each other's files."
        )
    return text


def restart_message(names: Sequence[str]) -> str:
    return (
        "Installed. These packages were already loaded in this Slicer session and take effect only "
        f"after a restart: {', '.join(names)}. Restart Slicer (File > Restart) before analysing."
    )
