"""Where the review store lives and how it is opened: a SQLite file on one workstation (the default), or
a PostgreSQL database shared by a reading team, chosen by the location's form (a path or a
``postgresql://`` URL) on the command line (``--db``), in ``MOMMI_REVIEW_DB`` or in the settings file.

The store itself: ``store_base`` (behaviour, records, errors), ``store_sqlite`` and ``store_postgres``
(one database each); their public names are re-exported here, where callers import them from.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mommi.feedback.store_base import (
    SCHEMA_VERSION,
    Event,
    ReviewInputError,
    ReviewSettingsError,
    ReviewStore,
    ReviewStoreBusyError,
    ReviewStoreError,
    ReviewStoreVersionError,
    ResultRecord,
    StudyRecord,
    is_database_url,
    model_version_label,
    utc_timestamp,
)
from mommi.feedback.store_postgres import PostgresReviewStore, is_postgres_url, redacted
from mommi.feedback.store_sqlite import MIGRATIONS, SqliteReviewStore, split_statements

__all__ = [
    "ENV_VAR",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Event",
    "PostgresReviewStore",
    "ReviewInputError",
    "ReviewSettingsError",
    "ReviewStore",
    "ReviewStoreBusyError",
    "ReviewStoreError",
    "ReviewStoreVersionError",
    "ResultRecord",
    "SqliteReviewStore",
    "StudyRecord",
    "default_store_location",
    "model_version_label",
    "open_store",
    "settings_path",
    "split_statements",
    "utc_timestamp",
]

#: environment variable that overrides the database location
ENV_VAR = "MOMMI_REVIEW_DB"
#: key of the settings file that overrides the database location
SETTINGS_KEY = "review_db"
APP_DIR = "mommislicer"


def _user_dirs(env: Mapping[str, str], platform: str) -> tuple[Path, Path]:
    """(user data dir, user config dir) by the platform's convention.

    Not platformdirs: it is not a dependency of the engine and the rule we need
    is three lines per platform.
    """
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform.startswith("win"):
        appdata = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
        return appdata, appdata
    if platform == "darwin":
        support = home / "Library" / "Application Support"
        return support, support

    def xdg(name: str, fallback: Path) -> Path:
        value = env.get(name)
        return Path(value) if value and os.path.isabs(value) else fallback  # XDG: relative values are ignored

    return xdg("XDG_DATA_HOME", home / ".local" / "share"), xdg("XDG_CONFIG_HOME", home / ".config")


def _location(value: str, source: str) -> str | Path:
    """A database location: a PostgreSQL URL as given, else a file path. Any other URL (``mysql://host/db``)
    is refused: it would otherwise be taken for a relative path and silently create a new, empty SQLite file
    named after it."""
    if is_database_url(value):
        if is_postgres_url(value):
            return value
        raise ReviewSettingsError(
            None,
            f"{source} names a database URL ({redacted(value)}) of a kind the review store cannot use: give the "
            "path of a SQLite file or a postgresql:// URL",
        )
    return Path(value).expanduser()


def settings_path(env: Mapping[str, str] | None = None, *, platform: str | None = None) -> Path:
    """The settings file that may name the review database: ``<config dir>/mommislicer/settings.json``."""
    env = os.environ if env is None else env
    return _user_dirs(env, platform or sys.platform)[1] / APP_DIR / "settings.json"


def default_store_location(
    setting: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    platform: str | None = None,
) -> str | Path:
    """Where the review database lives: a SQLite file's path, or a ``postgresql://`` URL.

    Precedence: ``setting`` (a command-line option or an explicit setting) >
    the ``MOMMI_REVIEW_DB`` environment variable > the ``review_db`` key of the
    settings file > ``<user data dir>/mommislicer/review.sqlite``. A broken
    settings file is an error rather than ignored: falling back silently would
    split one site's reviews over two databases.

    Raises:
        ReviewSettingsError: the settings file cannot be read, or a location is a URL of another database.
    """
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if setting:
        return _location(setting, "the database option")
    if env.get(ENV_VAR):
        return _location(env[ENV_VAR], ENV_VAR)
    data_dir, _ = _user_dirs(env, platform)
    settings = settings_path(env, platform=platform)
    if settings.is_file():
        try:
            content = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ReviewSettingsError(settings, f"cannot read the settings file: {exc}") from exc
        if not isinstance(content, dict):
            raise ReviewSettingsError(settings, "the settings file must hold a JSON object")
        value = content.get(SETTINGS_KEY)
        if value is not None and not isinstance(value, str):
            raise ReviewSettingsError(settings, f"{SETTINGS_KEY!r} must be a path or URL text, got {value!r}")
        if value:
            location = _location(value, str(settings))
            if isinstance(location, Path) and not location.is_absolute():
                return settings.parent / location  # relative to the settings file
            return location
    return data_dir / APP_DIR / "review.sqlite"


def open_store(location: str | Path, **options: Any) -> ReviewStore:
    """The review store at ``location``: PostgreSQL for a ``postgresql://`` URL, else a SQLite file.

    ``options`` go to the store (``retry_seconds``, ``clock``; ``busy_timeout_s`` for SQLite,
    ``connect_timeout_s`` for PostgreSQL).

    Raises:
        ReviewStoreError: the database cannot be opened, reached or migrated.
    """
    if isinstance(location, str) and is_database_url(location):
        if not is_postgres_url(location):
            raise ReviewSettingsError(
                None, f"{redacted(location)}: the review store is a SQLite file or a postgresql:// database"
            )
        return PostgresReviewStore(location, **options)
    return SqliteReviewStore(location, **options)
