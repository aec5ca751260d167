"""The reader's remembered settings: QSettings("MommiSlicer", "Reader"), INI format on every platform.

INI rather than the native store (the Windows registry, macOS plists) so that a
site can inspect and copy one text file, and so tests can point it at a
temporary folder with ``QSettings.setPath``. Values are typed by their defaults
here: QSettings hands back strings from INI files otherwise.
"""

from __future__ import annotations

import getpass
from typing import Any

from PyQt5.QtCore import QByteArray, QSettings

from mommi_reader import APP_NAME, APP_ORGANISATION

DEFAULTS: dict[str, Any] = {
    "reader": "",
    "role": "radiologist",
    "device": "auto",
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
        value = self.qsettings.value(key, default, type=type(default))
        return default if value is None else value

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise KeyError(f"unknown reader setting {key!r}")
        self.qsettings.setValue(key, type(DEFAULTS[key])(value))

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
