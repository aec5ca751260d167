"""Finding candidate image files under the paths a user gave (files, folders, or a mix)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mommi.errors import MissingPathError, StudyInputError

#: files that are certainly not images: skipped silently but listed as ignored
IGNORED_SUFFIXES = {
    ".json",
    ".txt",
    ".md",
    ".csv",
    ".tsv",
    ".xml",
    ".html",
    ".htm",
    ".pdf",
    ".log",
    ".ini",
    ".cfg",
    ".yaml",
    ".yml",
    ".py",
    ".sh",
    ".bat",
    ".exe",
    ".db",
    ".sqlite",
    # what public datasets ship beside their images: truth sheets (CMMD, CDD-CESM, INbreast),
    # TCIA download manifests, INbreast's OsiriX ROI files, archives
    ".xlsx",
    ".xls",
    ".ods",
    ".docx",
    ".doc",
    ".tcia",
    ".roi",
    ".plist",
    ".zip",
    ".gz",
    ".tar",
    ".7z",
}
IGNORED_NAMES = {"DICOMDIR", "LOCKFILE", "VERSION", "Thumbs.db", "desktop.ini", "LICENSE", "LICENCE", "README"}


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)
    explicit: set[Path] = field(default_factory=set)  # files named by the user, not found in a folder
    errors: list[StudyInputError] = field(default_factory=list)
    empty_folders: list[Path] = field(default_factory=list)


def _is_candidate(path: Path) -> bool:
    if path.name.startswith(".") or path.name in IGNORED_NAMES:
        return False
    return path.suffix.lower() not in IGNORED_SUFFIXES


def discover(paths: Iterable[str | Path]) -> Discovery:
    """List candidate files in a stable (sorted) order, each at most once."""
    found = Discovery()
    seen: set[Path] = set()

    def add(file: Path) -> None:
        try:
            key = file.resolve()
        except (OSError, RuntimeError):  # RuntimeError: Python < 3.13 reports a symlink loop so
            key = Path(os.path.abspath(file))
            if key not in seen:
                seen.add(key)
                found.errors.append(MissingPathError(file, LINK_LOOP))
            return
        if key in seen:
            return
        seen.add(key)
        if file.is_symlink() and not file.exists():
            found.errors.append(MissingPathError(file, LINK_LOOP if _loops(file) else "a symbolic link to nothing"))
            return
        (found.files if _is_candidate(file) else found.ignored).append(file)

    def unreadable(error: OSError) -> None:
        where = Path(error.filename) if error.filename else None
        found.errors.append(MissingPathError(where, f"this folder cannot be read ({error.strerror or error})"))

    for raw in paths:
        path = Path(raw)
        if path.is_file():
            add(path)
            found.explicit.add(path)
        elif path.is_dir():
            before = len(found.files)
            for root, dirs, names in os.walk(path, onerror=unreadable):  # links to folders are not followed
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    add(Path(root) / name)
            if len(found.files) == before:
                found.empty_folders.append(path)
        elif path.is_symlink():
            add(path)
        else:
            found.errors.append(MissingPathError(path, "this path does not exist or cannot be read"))
    return found


LINK_LOOP = "a symbolic link that leads back to itself (a link loop)"


def _loops(path: Path) -> bool:
    try:
        path.resolve(strict=True)
    except (RuntimeError, OSError) as exc:
        return isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
    return False
