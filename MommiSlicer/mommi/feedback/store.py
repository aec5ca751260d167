"""The review store: every reader decision, append-only, in one SQLite file.

Review decisions are the product's second output and must never be lost, so:

* every event is one INSERT in its own committed transaction, written with
  ``synchronous=FULL`` in WAL mode: once ``append_event`` returns, the event
  survives a killed process (and a power cut);
* events are never updated or deleted (there is no method for it, and from
  schema version 2 a trigger refuses it); the current state of a finding is
  derived by replaying its events;
* several processes may write at once: a busy database is waited
  for and retried, the user never sees "database is locked";
* the schema carries a version and is migrated forward in one transaction; a
  database written by a newer MommiSlicer is refused, never downgraded.

All SQL lives in this module, uses qmark parameters and portable types
(INTEGER, REAL, TEXT; JSON as TEXT; times as ISO-8601 UTC text with
microseconds) so that a PostgreSQL back end can follow. SQLite-only syntax is
marked where it cannot be avoided.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from mommi.errors import MommiError

_T = TypeVar("_T")

#: environment variable that overrides the database location
ENV_VAR = "MOMMI_REVIEW_DB"
#: key of the settings file that overrides the database location
SETTINGS_KEY = "review_db"
APP_DIR = "mommislicer"

# --------------------------------------------------------------------------- errors


class ReviewStoreError(MommiError):
    """The review database cannot be opened, migrated, read or written."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


class ReviewStoreBusyError(ReviewStoreError):
    """Other writers held the database for longer than the retry budget."""


class ReviewStoreVersionError(ReviewStoreError):
    """The database was written by a newer MommiSlicer (its schema is not downgraded)."""


class ReviewInputError(ReviewStoreError, ValueError):
    """A call the store refuses: unknown study, empty reader, non-JSON geometry, ..."""


class ReviewSettingsError(ReviewStoreError, ValueError):
    """The settings file that names the database location cannot be read."""


# --------------------------------------------------------------------------- schema

# Version 0 is an empty file. MIGRATIONS[i] upgrades version i to i + 1; the
# runner (``_migrate``) writes the new number into ``schema_version`` after each
# script, inside the same transaction. Never edit a released script: append one.
#
# Portability notes (PostgreSQL equivalents):
# * ``id INTEGER PRIMARY KEY`` is SQLite's rowid alias, unavoidable to get
#   generated ids; PostgreSQL: ``id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY``.
#   No AUTOINCREMENT (SQLite-only): ids are never reused because rows are never deleted.
# * times are TEXT ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (UTC, fixed width), so
#   text order is time order in both databases.
# * JSON is TEXT (PostgreSQL could later use JSONB with a cast).
MIGRATIONS: list[str] = [
    # ---- 0 -> 1: the first design: studies and their review events
    """
    CREATE TABLE schema_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    );
    INSERT INTO schema_version (id, version) VALUES (1, 0);

    CREATE TABLE studies (
        id INTEGER PRIMARY KEY,
        study_uid TEXT NOT NULL UNIQUE,
        patient_key TEXT NOT NULL,
        result_path TEXT NOT NULL,
        registered TEXT NOT NULL
    );

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id),
        finding_id TEXT,
        reader TEXT NOT NULL,
        action TEXT NOT NULL,
        before_json TEXT,
        after_json TEXT,
        payload_json TEXT,
        created TEXT NOT NULL
    );
    """,
    # ---- 1 -> 2: the model's original output beside the answers, who and which model
    # Events of version 1 keep role and model_version NULL: they were not recorded.
    """
    ALTER TABLE studies ADD COLUMN model_versions_json TEXT;
    ALTER TABLE events ADD COLUMN role TEXT;
    ALTER TABLE events ADD COLUMN model_version TEXT;

    CREATE TABLE model_findings (
        id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id),
        finding_id TEXT NOT NULL,
        finding_json TEXT NOT NULL,
        UNIQUE (study_id, finding_id)
    );

    CREATE INDEX events_study_id ON events (study_id);
    CREATE INDEX events_created ON events (created);

    -- Append-only, enforced by the database for every client, not only this module.
    -- SQLite-only trigger syntax. PostgreSQL: a plpgsql function that does
    -- RAISE EXCEPTION and CREATE TRIGGER ... BEFORE UPDATE OR DELETE ON events
    -- FOR EACH ROW EXECUTE FUNCTION it (or REVOKE UPDATE, DELETE from the app role).
    -- A later migration that must rewrite events drops and re-creates these.
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    BEGIN
        SELECT RAISE(ABORT, 'review events are append-only: UPDATE refused');
    END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    BEGIN
        SELECT RAISE(ABORT, 'review events are append-only: DELETE refused');
    END;
    CREATE TRIGGER model_findings_no_update BEFORE UPDATE ON model_findings
    BEGIN
        SELECT RAISE(ABORT, 'model findings are the original output: UPDATE refused');
    END;
    CREATE TRIGGER model_findings_no_delete BEFORE DELETE ON model_findings
    BEGIN
        SELECT RAISE(ABORT, 'model findings are the original output: DELETE refused');
    END;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """The statements of a migration script, trigger bodies kept whole.

    Needed because ``executescript`` commits any open transaction first, and a
    migration must run inside the transaction that also bumps the version.
    """
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    rest = "\n".join(ln for ln in buf.splitlines() if not ln.strip().startswith("--")).strip()
    if rest:
        raise ValueError(f"migration script ends with an incomplete statement: {rest[:80]!r}")
    return statements


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Event:
    """One stored reader decision; ``role`` and ``model_version`` are None on events of schema 1."""

    id: int
    study_uid: str
    finding_id: str | None
    reader: str
    role: str | None
    action: str
    before: Any
    after: Any
    payload: Any
    model_version: str | None
    created: str


@dataclass(frozen=True)
class StudyRecord:
    """A registered study; ``model_versions`` is empty for studies registered under schema 1."""

    id: int
    study_uid: str
    patient_key: str
    result_path: str
    registered: str
    model_versions: dict[str, str]


# --------------------------------------------------------------------------- helpers


def utc_timestamp(moment: datetime) -> str:
    """The stored form of a time: ISO-8601, UTC, microseconds, fixed width (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _normalise_time(value: str | datetime, what: str) -> str:
    """A filter bound in the stored form; a time without offset is read as UTC."""
    if isinstance(value, datetime):
        return utc_timestamp(value)
    try:
        return utc_timestamp(datetime.fromisoformat(value))
    except (TypeError, ValueError) as exc:
        raise ReviewInputError(None, f"{what}={value!r} is not an ISO-8601 time") from exc


def _to_json(value: Any, what: str, path: Path) -> str | None:
    if value is None:
        return None
    try:
        # no NaN/Infinity: PostgreSQL's JSON types (and strict parsers) refuse them
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ReviewInputError(path, f"{what} cannot be stored as JSON: {exc}") from exc


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _require_text(value: Any, what: str, path: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReviewInputError(path, f"{what} must be a non-empty text, got {value!r}")
    return value


# --------------------------------------------------------------------------- store


class ReviewStore:
    """The review database: opened (or created) and migrated on construction.

    One instance holds one connection; use it from the thread that made it.
    ``retry_seconds`` bounds how long a write waits for other writers before
    :class:`ReviewStoreBusyError`; ``clock`` exists for tests.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        retry_seconds: float = 30.0,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.retry_seconds = retry_seconds
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReviewStoreError(self.path, f"cannot create the folder of the review database: {exc}") from exc
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise ReviewStoreError(self.path, f"cannot open the review database: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            self._retrying("set up the connection", self._configure)
            self._retrying("migrate the schema", self._migrate)
        except BaseException:
            self.close()
            raise

    # ---- lifetime

    def close(self) -> None:
        """Close the connection (idempotent); committed events are already on disk."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ReviewStoreError(self.path, "the review database is closed")
        return self._conn

    # ---- connection set-up and migrations (SQLite-only PRAGMAs: a PostgreSQL back end has none)

    def _configure(self) -> None:
        conn = self.conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ReviewStoreError(self.path, f"the review database cannot use WAL journaling (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")  # a returned write survives a crash
        conn.execute("PRAGMA foreign_keys=ON")
        if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
            raise ReviewStoreError(self.path, "this SQLite build cannot enforce foreign keys")

    def _migrate(self) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")  # one migrator at a time; the others then find it done
        try:
            version = self._read_version()
            if version > SCHEMA_VERSION:
                raise ReviewStoreVersionError(
                    self.path,
                    f"the review database has schema version {version}, newer than the {SCHEMA_VERSION} "
                    "this MommiSlicer understands; update MommiSlicer (a database is never downgraded)",
                )
            for v in range(version, SCHEMA_VERSION):
                try:
                    for statement in split_statements(MIGRATIONS[v]):
                        conn.execute(statement)
                    conn.execute("UPDATE schema_version SET version = ? WHERE id = 1", (v + 1,))
                except sqlite3.OperationalError as exc:
                    if _is_busy(exc):
                        raise
                    raise ReviewStoreError(
                        self.path, f"migration of the review database from version {v} to {v + 1} failed: {exc}"
                    ) from exc
                except sqlite3.Error as exc:
                    raise ReviewStoreError(
                        self.path, f"migration of the review database from version {v} to {v + 1} failed: {exc}"
                    ) from exc
            conn.execute("COMMIT")
        except BaseException:
            self._rollback_quietly()
            raise

    def _read_version(self) -> int:
        # sqlite_master is SQLite-only; PostgreSQL: information_schema.tables
        tables = {
            row[0]
            for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        }
        if "schema_version" not in tables:
            if tables:
                raise ReviewStoreError(
                    self.path,
                    f"not a MommiSlicer review database (it holds the tables {', '.join(sorted(tables))} "
                    "but no schema_version)",
                )
            return 0
        rows = self.conn.execute("SELECT version FROM schema_version").fetchall()
        if len(rows) != 1:
            raise ReviewStoreError(self.path, f"schema_version must hold one row, it holds {len(rows)}")
        return int(rows[0][0])

    # ---- retries

    def _retrying(self, what: str, action: Callable[[], _T]) -> _T:
        """Run ``action``, retrying while other processes hold the database.

        SQLite's own busy timeout covers most waits; this loop covers the cases
        it does not (a lock held through a checkpoint, WAL recovery after a
        killed writer) so that concurrent writers never surface an error.
        """
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            try:
                return action()
            except BaseException as exc:
                self._rollback_quietly()
                if isinstance(exc, ReviewStoreError) or not isinstance(exc, sqlite3.Error):
                    raise
                if not (isinstance(exc, sqlite3.OperationalError) and _is_busy(exc)):
                    raise ReviewStoreError(self.path, f"cannot {what}: {exc}") from exc
                attempt += 1
                if time.monotonic() >= deadline:
                    raise ReviewStoreBusyError(
                        self.path,
                        f"cannot {what}: the review database stayed busy for {self.retry_seconds:g} s "
                        f"({attempt} attempts; other MommiSlicer processes are writing): {exc}",
                    ) from exc
            # randomised, growing backoff so that waiting writers do not retry in lockstep
            time.sleep(random.uniform(0.005, 0.02) * min(attempt, 10))

    def _rollback_quietly(self) -> None:
        """End a failed transaction so that the connection stays usable."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is gone already; the original error is the one to report

    def _now(self) -> str:
        return utc_timestamp(self._clock())

    # ---- writes

    def register_study(
        self,
        study_uid: str,
        patient_key: str,
        result_path: str,
        findings: list[dict],
        model_versions: dict[str, str],
    ) -> int:
        """Register a study and the model's original findings; returns the study's id.

        Idempotent by ``study_uid``: a second call returns the same id, keeps the
        first registration (it is what the readers saw) and adds only findings
        whose ``id`` is not stored yet. A second call with another patient is
        refused: one study UID never belongs to two patients.
        """
        _require_text(study_uid, "study_uid", self.path)
        _require_text(patient_key, "patient_key", self.path)
        rows: list[tuple[str, str | None]] = []
        for i, finding in enumerate(findings):
            if not isinstance(finding, Mapping) or finding.get("id") is None:
                raise ReviewInputError(self.path, f"model finding {i} of study {study_uid} has no 'id'")
            rows.append((str(finding["id"]), _to_json(dict(finding), f"model finding {finding['id']}", self.path)))
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ReviewInputError(self.path, f"the model findings of study {study_uid} repeat an id: {ids}")
        versions_json = _to_json(dict(model_versions), "model_versions", self.path)

        def write() -> int:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            # ON CONFLICT ... DO NOTHING: SQLite >= 3.24 and PostgreSQL >= 9.5
            conn.execute(
                "INSERT INTO studies (study_uid, patient_key, result_path, registered, model_versions_json) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (study_uid) DO NOTHING",
                (study_uid, patient_key, str(result_path), self._now(), versions_json),
            )
            row = conn.execute("SELECT id, patient_key FROM studies WHERE study_uid = ?", (study_uid,)).fetchone()
            if row["patient_key"] != patient_key:
                raise ReviewInputError(
                    self.path,
                    f"study {study_uid} is registered for patient {row['patient_key']!r}, not {patient_key!r}",
                )
            study_id = int(row["id"])
            conn.executemany(
                "INSERT INTO model_findings (study_id, finding_id, finding_json) VALUES (?, ?, ?) "
                "ON CONFLICT (study_id, finding_id) DO NOTHING",
                [(study_id, fid, text) for fid, text in rows],
            )
            conn.execute("COMMIT")
            return study_id

        return self._retrying(f"register study {study_uid}", write)

    def append_event(
        self,
        study_uid: str,
        reader: str,
        role: str,
        action: str,
        finding_id: str | None = None,
        before: dict | None = None,
        after: dict | None = None,
        payload: dict | None = None,
        model_version: str | None = None,
    ) -> Event:
        """Append one reader decision; when this returns, the event is on disk.

        One INSERT in its own committed transaction, retried while other
        writers hold the database (up to ``retry_seconds``).
        """
        for value, what in ((study_uid, "study_uid"), (reader, "reader"), (role, "role"), (action, "action")):
            _require_text(value, what, self.path)
        before_json = _to_json(before, "before", self.path)
        after_json = _to_json(after, "after", self.path)
        payload_json = _to_json(payload, "payload", self.path)
        fid = None if finding_id is None else str(finding_id)

        def write() -> Event:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT id FROM studies WHERE study_uid = ?", (study_uid,)).fetchone()
            if row is None:
                raise ReviewInputError(self.path, f"study {study_uid} is not registered; register_study it first")
            created = self._now()
            cur = conn.execute(
                "INSERT INTO events (study_id, finding_id, reader, role, action, before_json, after_json, "
                "payload_json, model_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row["id"], fid, reader, role, action, before_json, after_json, payload_json, model_version, created),
            )
            event_id = cur.lastrowid  # PostgreSQL: INSERT ... RETURNING id
            conn.execute("COMMIT")
            assert event_id is not None
            return Event(
                id=int(event_id),
                study_uid=study_uid,
                finding_id=fid,
                reader=reader,
                role=role,
                action=action,
                before=_from_json(before_json),
                after=_from_json(after_json),
                payload=_from_json(payload_json),
                model_version=model_version,
                created=created,
            )

        return self._retrying(f"append a {action!r} event to study {study_uid}", write)

    # ---- reads

    def _query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        return self._retrying("read the review database", lambda: self.conn.execute(sql, params).fetchall())

    def events(
        self,
        study_uid: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        reader: str | None = None,
    ) -> list[Event]:
        """Stored events in the order they were written; ``since`` is inclusive, ``until`` exclusive."""
        where: list[str] = []
        params: list[Any] = []
        if study_uid is not None:
            where.append("s.study_uid = ?")
            params.append(study_uid)
        if since is not None:
            where.append("e.created >= ?")
            params.append(_normalise_time(since, "since"))
        if until is not None:
            where.append("e.created < ?")
            params.append(_normalise_time(until, "until"))
        if reader is not None:
            where.append("e.reader = ?")
            params.append(reader)
        sql = (
            "SELECT e.id, s.study_uid, e.finding_id, e.reader, e.role, e.action, e.before_json, e.after_json, "
            "e.payload_json, e.model_version, e.created FROM events e JOIN studies s ON s.id = e.study_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.id"
        return [
            Event(
                id=r["id"],
                study_uid=r["study_uid"],
                finding_id=r["finding_id"],
                reader=r["reader"],
                role=r["role"],
                action=r["action"],
                before=_from_json(r["before_json"]),
                after=_from_json(r["after_json"]),
                payload=_from_json(r["payload_json"]),
                model_version=r["model_version"],
                created=r["created"],
            )
            for r in self._query(sql, params)
        ]

    def _study_rows(self, study_uid: str | None) -> Iterator[StudyRecord]:
        sql = "SELECT id, study_uid, patient_key, result_path, registered, model_versions_json FROM studies"
        params: tuple = ()
        if study_uid is not None:
            sql += " WHERE study_uid = ?"
            params = (study_uid,)
        for r in self._query(sql + " ORDER BY id", params):
            yield StudyRecord(
                id=r["id"],
                study_uid=r["study_uid"],
                patient_key=r["patient_key"],
                result_path=r["result_path"],
                registered=r["registered"],
                model_versions=_from_json(r["model_versions_json"]) or {},
            )

    def studies(self) -> list[StudyRecord]:
        """Every registered study, in registration order."""
        return list(self._study_rows(None))

    def study(self, study_uid: str) -> StudyRecord | None:
        """The registered study with this UID, or None."""
        return next(self._study_rows(study_uid), None)

    def model_findings(self, study_uid: str) -> list[dict]:
        """The model's original findings of a study as registered (empty if unknown)."""
        rows = self._query(
            "SELECT m.finding_json FROM model_findings m JOIN studies s ON s.id = m.study_id "
            "WHERE s.study_uid = ? ORDER BY m.id",
            (study_uid,),
        )
        return [json.loads(r["finding_json"]) for r in rows]

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check says "ok" and no foreign key dangles."""
        rows = self._query("PRAGMA integrity_check")
        if [r[0] for r in rows] != ["ok"]:
            return False
        return not self._query("PRAGMA foreign_key_check")

    def schema_version(self) -> int:
        """The schema version stored in the database."""
        return int(self._query("SELECT version FROM schema_version WHERE id = 1")[0][0])


# --------------------------------------------------------------------------- location


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


def _local_path(value: str, source: str) -> Path:
    """A database location as a file path. A URL (``mysql://host/db``) would otherwise be taken for a relative
    path and silently create a new, empty SQLite file named after it."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        raise ReviewSettingsError(
            None, f"{source} names a database URL ({value}); this review store is a SQLite file: give its path"
        )
    return Path(value).expanduser()


def settings_path(env: Mapping[str, str] | None = None, *, platform: str | None = None) -> Path:
    """The settings file that may name the review database: ``<config dir>/mommislicer/settings.json``."""
    env = os.environ if env is None else env
    return _user_dirs(env, platform or sys.platform)[1] / APP_DIR / "settings.json"


def default_store_path(
    setting: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    platform: str | None = None,
) -> Path:
    """Where the review database lives.

    Precedence: ``setting`` (a command-line option or an explicit setting) >
    the ``MOMMI_REVIEW_DB`` environment variable > the ``review_db`` key of the
    settings file > ``<user data dir>/mommislicer/review.sqlite``. A broken
    settings file is an error rather than ignored: falling back silently would
    split one site's reviews over two databases.
    """
    env = os.environ if env is None else env
    platform = platform or sys.platform
    if setting:
        return _local_path(setting, "the database option")
    if env.get(ENV_VAR):
        return _local_path(env[ENV_VAR], ENV_VAR)
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
            raise ReviewSettingsError(settings, f"{SETTINGS_KEY!r} must be a path text, got {value!r}")
        if value:
            path = _local_path(value, str(settings))
            return path if path.is_absolute() else settings.parent / path  # relative to the settings file
    return data_dir / APP_DIR / "review.sqlite"
