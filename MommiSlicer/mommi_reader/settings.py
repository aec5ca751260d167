"""The reader's remembered settings: QSettings("MommiSlicer", "Reader"), INI format on every platform.

INI rather than the native store (the Windows registry, macOS plists) so that a
site can inspect and copy one text file, and so tests can point it at a
temporary folder with ``QSettings.setPath``. Values are typed by their defaults
here: QSettings hands back strings from INI files otherwise. A list of
strings (``pacs_servers``) is checked item by item on the way in and on the way
out, since a hand-edited file may hold anything there.
"""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from typing import Any

from PyQt5.QtCore import QByteArray, QSettings

from mommi_reader import APP_NAME, APP_ORGANISATION

DEFAULTS: dict[str, Any] = {
    "reader": "",
    "role": "radiologist",
    "device": "auto",
    "zoo": "",  # a model zoo folder or manifest (checked in Settings); "": MOMMI_MODEL_ZOO, else the checkout's
    "results_location": "cache",  # cache | beside | folder (mommi_reader.results_store)
    "results_folder": "",
    "write_dicom": False,  # DICOM SEG + SR beside result.json (slower; for PACS)
    "write_pictures": False,  # overlay PNGs and the four-view sheet
    "auto_analyse": True,
    "heat_opacity": 40,  # percent
    "show_heat": True,
    "show_findings": True,
    "show_nipple": True,
    "show_boxes": False,
    "last_folder": "",
    "export_folder": "",
    "pacs_servers": [],  # PACS addresses searched, most recent first (File > Open from PACS); never credentials
}
ROLES = ("radiologist", "annotator", "resident")


def open_qsettings() -> QSettings:
    return QSettings(QSettings.IniFormat, QSettings.UserScope, APP_ORGANISATION, APP_NAME)


class ReaderSettings:
    """Typed get/set over one QSettings; ``sync`` writes to disk (also done by Qt on exit)."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.qsettings = qsettings or open_qsettings()

    def get(self, key: str) -> Any:
        default = DEFAULTS[key]
        if isinstance(default, list):
            return self._strings(key)
        value = self.qsettings.value(key, default, type=type(default))
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown reader setting {key!r}")
        if isinstance(DEFAULTS[key], list):
            self._set_strings(key, value)
        else:
            self.qsettings.setValue(key, type(DEFAULTS[key])(value))

    def _strings(self, key: str) -> list[str]:
        """A list setting's non-blank strings. Read untyped: QSettings cannot turn a hand-written
        ``key=one value`` into a list (it raises), and the INI file keeps a one-item list as that string."""
        value = self.qsettings.value(key)
        items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [item.strip() for item in items if isinstance(item, str) and item.strip()]

    def _set_strings(self, key: str, value: Sequence[str]) -> None:
        """Only a list of strings (``list("http://...")`` would store characters); one item is written as a
        plain string, which QSettings would otherwise write as an unreadable binary variant."""
        if isinstance(value, str) or not all(isinstance(item, str) for item in value):
            raise TypeError(f"reader setting {key!r} is a list of strings, not {value!r}")
        items = list(value)
        self.qsettings.setValue(key, items[0] if len(items) == 1 else items)

    def reader_name(self) -> str:
        """The remembered reader, else the login name (changeable in Settings)."""
        name = str(self.get("reader")).strip()
        if name:
            return name
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no login name (containers): still someone to record
            return "reader"

    def window_bytes(self, key: str) -> QByteArray | None:
        value = self.qsettings.value(key)
        return value if isinstance(value, QByteArray) else None

    def set_window_bytes(self, key: str, value: QByteArray) -> None:
        self.qsettings.setValue(key, value)

    def sync(self) -> None:
        self.qsettings.sync()

    @property
    def path(self) -> str:
        return self.qsettings.fileName()
