"""Where the reader finds the files it shares with the Slicer module (Qt Designer files).

The findings panel is one ``.ui`` file in the checkout's ``Resources/UI`` so that
the reader and the Slicer module cannot drift apart; ``MOMMI_READER_UI`` points
to another folder for installations that keep it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

UI_ENV = "MOMMI_READER_UI"
#: MommiSlicer/mommi_reader/resources.py -> <checkout>/Resources/UI
CHECKOUT_UI = Path(__file__).resolve().parents[2] / "Resources" / "UI"


class ResourceMissingError(FileNotFoundError):
    """A shared resource file is not where the reader looks; the message says where it looked."""


def ui_file(name: str) -> Path:
    """The path of a shared Qt Designer file, from ``$MOMMI_READER_UI`` or the checkout."""
    folders = [Path(os.environ[UI_ENV])] if os.environ.get(UI_ENV) else []
    folders.append(CHECKOUT_UI)
    for folder in folders:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(f) for f in folders)
    raise ResourceMissingError(f"{name} was not found (looked in {looked}); set {UI_ENV} to the folder holding it")
