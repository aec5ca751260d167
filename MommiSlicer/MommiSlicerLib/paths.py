"""Where the module's shared resources are, in a checkout and in an installed extension.

The extension's CMakeLists copies the repository's ``Resources/`` next to the installed
module (``<qt-scripted-modules>/Resources``); a checkout added to Slicer's module paths has
it one level up (``<checkout>/Resources``, shared with the desktop reader). Both are tried,
in that order, so the same code works in both.
"""

from __future__ import annotations

from pathlib import Path

#: MommiSlicer/MommiSlicerLib/paths.py -> MommiSlicer/
MODULE_DIR = Path(__file__).resolve().parents[1]


def resources_dir(module_dir: Path | None = None) -> Path:
    module_dir = module_dir or MODULE_DIR
    for candidate in (module_dir / "Resources", module_dir.parent / "Resources"):
        if (candidate / "UI").is_dir():
            return candidate
    raise FileNotFoundError(f"MommiSlicer resources not found beside {module_dir} or one level up")


def resource(relative: str, module_dir: Path | None = None) -> Path:
    return resources_dir(module_dir) / relative
