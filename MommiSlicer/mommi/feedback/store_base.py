"""What every review store shares: the errors, the records, and the store's behaviour written once over a
small set of database hooks, so that the SQLite file of one workstation and the PostgreSQL database of a
reading team keep the same events, the same schema versions and the same refusals.

Review decisions are the product's second output and must never be lost, so, in either database:

* every event is one INSERT in its own committed transaction: once ``append_event`` returns, the event
  survives a killed process (and a power cut);
* events are never updated or deleted (there is no method for it, and from schema version 2 the database
  itself refuses it); the current state of a finding is derived by replaying its events;
* several processes (and, on PostgreSQL, machines) may write at once: a busy database is waited for and
  retried, the user never sees "database is locked";
* the schema carries a version and is migrated forward in one transaction; a database written by a newer
  MommiSlicer is refused, never downgraded;
* a study may be analysed again (another zoo, another operating point): each different result is a new
  *result version* with its own model findings, the latest is the current one, and every event records
  the version it was made on, so that a decision is never read against findings the reader did not see.

The shared SQL uses qmark parameters and portable types (INTEGER, TEXT; JSON as TEXT; times as ISO-8601
UTC text with microseconds, so text order is time order in both databases).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from mommi.errors import MommiError

_T = TypeVar("_T")

#: the schema version this MommiSlicer writes; each back end has one migration script per version step
SCHEMA_VERSION = 3
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# --------------------------------------------------------------------------- errors


def is_database_url(value: str) -> bool:
    """True for ``scheme://...``: a server's address, never a file path."""
    return bool(_URL.match(value))


class ReviewStoreError(MommiError):
    """The review database cannot be opened, migrated, read or written.

    ``location`` is the database file (``path`` then holds it) or a server URL without its password.
    """

    def __init__(self, location: str | Path | None, reason: str) -> None:
        self.path = (
            Path(location)
            if isinstance(location, Path) or (isinstance(location, str) and not is_database_url(location))
            else None
        )
        self.location = None if location is None else str(location)
        self.reason = reason
        where = f"{self.location}: " if self.location is not None else ""
        super().__init__(f"{where}{reason}")


class ReviewStoreBusyError(ReviewStoreError):
    """Other writers (or an unreachable server) held the database for longer than the retry budget."""


class ReviewStoreVersionError(ReviewStoreError):
    """The database was written by a newer MommiSlicer (its schema is not downgraded)."""


class ReviewInputError(ReviewStoreError, ValueError):
    """A call the store refuses: unknown study, empty reader, non-JSON geometry, ..."""


class ReviewSettingsError(ReviewStoreError, ValueError):
    """The settings file or option that names the database location cannot be used."""


# --------------------------------------------------------------------------- records


def model_version_label(model_versions: Mapping[str, str]) -> str:
    """The models of a result in one short text (``name:sha256[:12]``, by name): what events record as their
    ``model_version`` and exports print, so both name a result's models the same way."""
    return ",".join(f"{name}:{version[:12]}" for name, version in sorted(model_versions.items()))


@dataclass(frozen=True)
class Event:
    """One stored reader decision; ``role`` and ``model_version`` are None on events of schema 1.

    ``result_version`` is the study's result version the decision was made on. Events stored before schema
    3 did not record it: they were all made on version 1, the only result a study then had.
    """

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
    result_version: int


@dataclass(frozen=True)
class StudyRecord:
    """A registered study with its current (latest) result: ``result_path``, ``model_versions`` and
    ``result_version`` are that result's; ``registered`` is when the study was first registered.
    ``model_versions`` is empty for studies registered under schema 1."""

    id: int
    study_uid: str
    patient_key: str
    result_path: str
    registered: str
    model_versions: dict[str, str]
    result_version: int


@dataclass(frozen=True)
class ResultRecord:
    """One registered analysis result of a study: version ``version`` (1, 2, ... in registration order).

    No database id: the version is the result's name in both databases (PostgreSQL's identities may skip).
    """

    study_uid: str
    version: int
    result_path: str
    model_versions: dict[str, str]
    registered: str

    @property
    def model_version(self) -> str:
        """The models that made this result, as events record them (``model_version_label``)."""
        return model_version_label(self.model_versions)


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


def _to_json(value: Any, what: str, location: str) -> str | None:
    if value is None:
        return None
    try:
        # no NaN/Infinity: PostgreSQL's JSON types (and strict parsers) refuse them
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ReviewInputError(location, f"{what} cannot be stored as JSON: {exc}") from exc


def _from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _require_text(value: Any, what: str, location: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReviewInputError(location, f"{what} must be a non-empty text, got {value!r}")
    return value


def _content_key(model_versions_json: str | None, findings: Sequence[tuple[str, str | None]]) -> str:
    """The result key of a result known only by its content: the SHA-256 of its model versions and findings
    (as stored: canonical JSON), for callers of ``register_study`` that give no key of their own."""
    text = json.dumps([model_versions_json, [list(f) for f in findings]], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- store


class ReviewStore(ABC):
    """The review database: opened (or created) and migrated on construction (``open_store`` picks the kind).

    One instance holds one connection; use it from the thread that made it. ``retry_seconds`` bounds how
    long a call waits for other writers (or a server that went away) before :class:`ReviewStoreBusyError`;
    ``clock`` exists for tests.
    """

    #: what ``open_store`` takes to open this database again (a file path, or the URL as given)
    location: str | Path

    def __init__(self, *, retry_seconds: float, clock: Callable[[], datetime] | None) -> None:
        self.retry_seconds = retry_seconds
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    # ---- what each database provides

    @property
    @abstractmethod
    def display_location(self) -> str:
        """The database for people and error messages (never with a password)."""

    @property
    def path(self) -> Path | None:
        """The database file, or None for a database on a server."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent); committed events are already durable."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement with qmark parameters; a cursor whose rows are read by column name."""

    @abstractmethod
    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""

    @abstractmethod
    def _insert_returning_id(self, sql: str, params: Sequence[Any]) -> int:
        """Run one INSERT and return the generated ``id`` of its row."""

    @abstractmethod
    def _write_transaction(self, migration: bool = False) -> AbstractContextManager[None]:
        """A transaction that holds off other writers where it must (all of them for a migration);
        committed on leaving, rolled back on an exception."""

    @abstractmethod
    def _lock_study(self, study_id: int) -> None:
        """Hold off other registrations of this study until the open transaction ends, so that two
        workstations registering at once never give two results the same version (nor one result two)."""

    @abstractmethod
    def _table_names(self) -> set[str]:
        """The tables of the database (of its schema, on a server), without the database's own."""

    @abstractmethod
    def _apply_migration(self, version: int) -> None:
        """Run the script that upgrades ``version`` to ``version + 1`` inside the open transaction."""

    @abstractmethod
    def _is_driver_error(self, exc: BaseException) -> bool:
        """True for an error of the database driver (as opposed to ours or a programming error)."""

    @abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """True for a driver error that goes away by waiting: a lock, a serialisation conflict, a lost
        connection."""

    @abstractmethod
    def _recover(self) -> None:
        """Make the connection usable again after a failed call (roll back, or reconnect)."""

    @abstractmethod
    def integrity_ok(self) -> bool:
        """True when the database's own checks pass and no reference dangles."""

    # ---- lifetime

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open(self) -> None:
        """The steps every back end runs once connected: the schema is brought up to date."""
        try:
            self._retrying("migrate the schema", self._migrate)
        except BaseException:
            self.close()
            raise

    # ---- migrations

    def _migrate(self) -> None:
        with self._write_transaction(migration=True):  # one migrator at a time; the others then find it done
            version = self._read_version()
            if version > SCHEMA_VERSION:
                raise ReviewStoreVersionError(
                    self.display_location,
                    f"the review database has schema version {version}, newer than the {SCHEMA_VERSION} "
                    "this MommiSlicer understands; update MommiSlicer (a database is never downgraded)",
                )
            for v in range(version, SCHEMA_VERSION):
                try:
                    self._apply_migration(v)
                    self._execute("UPDATE schema_version SET version = ? WHERE id = 1", (v + 1,))
                except Exception as exc:
                    if isinstance(exc, ReviewStoreError) or self._is_transient(exc):
                        raise
                    raise ReviewStoreError(
                        self.display_location,
                        f"migration of the review database from version {v} to {v + 1} failed: {exc}",
                    ) from exc

    def _read_version(self) -> int:
        tables = self._table_names()
        if "schema_version" not in tables:
            if tables:
                raise ReviewStoreError(
                    self.display_location,
                    f"not a MommiSlicer review database (it holds the tables {', '.join(sorted(tables))} "
                    "but no schema_version)",
                )
            return 0
        rows = self._execute("SELECT version FROM schema_version").fetchall()
        if len(rows) != 1:
            raise ReviewStoreError(self.display_location, f"schema_version must hold one row, it holds {len(rows)}")
        return int(rows[0]["version"])

    # ---- retries

    def _retrying(self, what: str, action: Callable[[], _T]) -> _T:
        """Run ``action``, retrying while other writers hold the database or the server is briefly away.

        The database's own lock waits cover most cases; this loop covers the rest (SQLite: a lock held
        through a checkpoint, WAL recovery after a killed writer; PostgreSQL: a serialisation conflict, a
        deadlock victim, a restarted server) so that concurrent writers never surface an error.
        """
        deadline = time.monotonic() + self.retry_seconds
        attempt = 0
        while True:
            try:
                return action()
            except BaseException as exc:
                transient = self._is_driver_error(exc) and self._is_transient(exc)  # before recovery reconnects
                self._recover()
                if isinstance(exc, ReviewStoreError) or not self._is_driver_error(exc):
                    raise
                if not transient:
                    raise ReviewStoreError(self.display_location, f"cannot {what}: {_first_line(exc)}") from exc
                attempt += 1
                if time.monotonic() >= deadline:
                    raise ReviewStoreBusyError(
                        self.display_location,
                        f"cannot {what}: the review database stayed busy for {self.retry_seconds:g} s "
                        f"({attempt} attempts; other MommiSlicer processes are writing, or the server is "
                        f"unreachable): {_first_line(exc)}",
                    ) from exc
            # randomised, growing backoff so that waiting writers do not retry in lockstep
            time.sleep(random.uniform(0.005, 0.02) * min(attempt, 10))

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
        result_key: str | None = None,
    ) -> ResultRecord:
        """Register an analysis result of a study and the model's findings; returns its result version.

        ``result_key`` says which results are the same: the caller's identity of the analysis (the session
        gives the models' SHA-256s, the operating point and the MommiSlicer version, so that the same models
        on another device are the same result); None keys the result by its model versions and findings.

        Idempotent: a result with the current version's key is that version (its first registration is
        kept: it is what the readers saw). Any other result becomes a new version, the current one, with
        its own findings; earlier versions and the decisions made on them stay. A result equal to an
        older, no longer current version is registered anew, so that the current result is always the
        latest version. A current result registered before schema 3 has no key: it is the same result when
        the model versions and the finding ids are the same (another operating point changes the findings,
        another device only their last digits). One study UID never belongs to two patients.

        Raises:
            ReviewInputError: an empty UID or patient, a finding without id, or another patient's study.
            ReviewStoreError: the database cannot be written.
        """
        where = self.display_location
        _require_text(study_uid, "study_uid", where)
        _require_text(patient_key, "patient_key", where)
        rows: list[tuple[str, str | None]] = []
        for i, finding in enumerate(findings):
            if not isinstance(finding, Mapping) or finding.get("id") is None:
                raise ReviewInputError(where, f"model finding {i} of study {study_uid} has no 'id'")
            rows.append((str(finding["id"]), _to_json(dict(finding), f"model finding {finding['id']}", where)))
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise ReviewInputError(where, f"the model findings of study {study_uid} repeat an id: {ids}")
        versions_json = _to_json(dict(model_versions), "model_versions", where)
        key = (
            _content_key(versions_json, rows) if result_key is None else _require_text(result_key, "result_key", where)
        )

        def write() -> ResultRecord:
            with self._write_transaction():
                now = self._now()
                # ON CONFLICT ... DO NOTHING: SQLite >= 3.24 and PostgreSQL >= 9.5
                self._execute(
                    "INSERT INTO studies (study_uid, patient_key, result_path, registered, model_versions_json) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (study_uid) DO NOTHING",
                    (study_uid, patient_key, str(result_path), now, versions_json),
                )
                row = self._execute("SELECT id, patient_key FROM studies WHERE study_uid = ?", (study_uid,)).fetchone()
                if row["patient_key"] != patient_key:
                    raise ReviewInputError(
                        where,
                        f"study {study_uid} is registered for patient {row['patient_key']!r}, not {patient_key!r}",
                    )
                study_id = int(row["id"])
                self._lock_study(study_id)
                current = self._execute(
                    "SELECT id, version, result_key, result_path, model_versions_json, registered FROM results "
                    "WHERE study_id = ? ORDER BY version DESC LIMIT 1",
                    (study_id,),
                ).fetchone()
                if current is not None and self._is_result(current, key, versions_json, ids):
                    return _result_record(study_uid, current)
                version = 1 if current is None else int(current["version"]) + 1
                result_id = self._insert_returning_id(
                    "INSERT INTO results (study_id, version, result_key, result_path, model_versions_json, "
                    "registered) VALUES (?, ?, ?, ?, ?, ?)",
                    (study_id, version, key, str(result_path), versions_json, now),
                )
                self._executemany(
                    "INSERT INTO model_findings (result_id, finding_id, finding_json) VALUES (?, ?, ?)",
                    [(result_id, fid, text) for fid, text in rows],
                )
            return ResultRecord(
                study_uid=study_uid,
                version=version,
                result_path=str(result_path),
                model_versions=_from_json(versions_json) or {},
                registered=now,
            )

        return self._retrying(f"register study {study_uid}", write)

    def _is_result(self, stored: Any, key: str, versions_json: str | None, finding_ids: list[str]) -> bool:
        """Whether the stored result row is the result being registered (see ``register_study``)."""
        if stored["result_key"] is not None:
            return bool(stored["result_key"] == key)
        if stored["model_versions_json"] != versions_json:
            return False
        rows = self._execute("SELECT finding_id FROM model_findings WHERE result_id = ?", (stored["id"],)).fetchall()
        return sorted(r["finding_id"] for r in rows) == sorted(finding_ids)

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
        result_version: int | None = None,
    ) -> Event:
        """Append one reader decision; when this returns, the event is durable.

        ``result_version`` is the study's result the decision was made on (the one the reader saw); None
        means the current one at the time of writing.

        One INSERT in its own committed transaction, retried while other writers hold the database (up
        to ``retry_seconds``). A connection lost at the very moment of the commit may, after the retry,
        store the decision twice: replaying the same decision twice gives the same state, losing it would not.

        Raises:
            ReviewInputError: an empty text field, non-JSON geometry, a study that is not registered, or a
                result version it does not have.
            ReviewStoreError: the database cannot be written (ReviewStoreBusyError: not within the budget).
        """
        where = self.display_location
        for value, what in ((study_uid, "study_uid"), (reader, "reader"), (role, "role"), (action, "action")):
            _require_text(value, what, where)
        before_json = _to_json(before, "before", where)
        after_json = _to_json(after, "after", where)
        payload_json = _to_json(payload, "payload", where)
        fid = None if finding_id is None else str(finding_id)

        def write() -> Event:
            with self._write_transaction():
                row = self._execute("SELECT id FROM studies WHERE study_uid = ?", (study_uid,)).fetchone()
                if row is None:
                    raise ReviewInputError(where, f"study {study_uid} is not registered; register_study it first")
                if result_version is None:
                    result = self._execute(
                        "SELECT id, version FROM results WHERE study_id = ? ORDER BY version DESC LIMIT 1", (row["id"],)
                    ).fetchone()
                else:
                    result = self._execute(
                        "SELECT id, version FROM results WHERE study_id = ? AND version = ?",
                        (row["id"], result_version),
                    ).fetchone()
                    if result is None:
                        raise ReviewInputError(where, f"study {study_uid} has no result version {result_version!r}")
                created = self._now()
                event_id = self._insert_returning_id(
                    "INSERT INTO events (study_id, result_id, finding_id, reader, role, action, before_json, "
                    "after_json, payload_json, model_version, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["id"],
                        result["id"],
                        fid,
                        reader,
                        role,
                        action,
                        before_json,
                        after_json,
                        payload_json,
                        model_version,
                        created,
                    ),
                )
            return Event(
                id=event_id,
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
                result_version=int(result["version"]),
            )

        return self._retrying(f"append a {action!r} event to study {study_uid}", write)

    # ---- reads

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._retrying("read the review database", lambda: self._execute(sql, params).fetchall())

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
        # an event stored before schema 3 has no result: it was made on version 1 (see Event)
        sql = (
            "SELECT e.id, s.study_uid, e.finding_id, e.reader, e.role, e.action, e.before_json, e.after_json, "
            "e.payload_json, e.model_version, e.created, COALESCE(r.version, 1) AS result_version "
            "FROM events e JOIN studies s ON s.id = e.study_id LEFT JOIN results r ON r.id = e.result_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY e.id"
        return [
            Event(
                id=int(r["id"]),
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
                result_version=int(r["result_version"]),
            )
            for r in self._query(sql, params)
        ]

    def _study_rows(self, study_uid: str | None) -> Iterator[StudyRecord]:
        sql = (
            "SELECT s.id, s.study_uid, s.patient_key, s.registered, r.version, r.result_path, r.model_versions_json "
            "FROM studies s JOIN results r ON r.study_id = s.id "
            "WHERE r.version = (SELECT MAX(version) FROM results WHERE study_id = s.id)"
        )
        params: tuple = ()
        if study_uid is not None:
            sql += " AND s.study_uid = ?"
            params = (study_uid,)
        for r in self._query(sql + " ORDER BY s.id", params):
            yield StudyRecord(
                id=int(r["id"]),
                study_uid=r["study_uid"],
                patient_key=r["patient_key"],
                result_path=r["result_path"],
                registered=r["registered"],
                model_versions=_from_json(r["model_versions_json"]) or {},
                result_version=int(r["version"]),
            )

    def studies(self) -> list[StudyRecord]:
        """Every registered study, in registration order."""
        return list(self._study_rows(None))

    def study(self, study_uid: str) -> StudyRecord | None:
        """The registered study with this UID, or None."""
        return next(self._study_rows(study_uid), None)

    def results(self, study_uid: str) -> list[ResultRecord]:
        """Every result version of a study, oldest first (the last is the current one; empty if unknown)."""
        rows = self._query(
            "SELECT r.version, r.result_path, r.model_versions_json, r.registered FROM results r "
            "JOIN studies s ON s.id = r.study_id WHERE s.study_uid = ? ORDER BY r.version",
            (study_uid,),
        )
        return [_result_record(study_uid, r) for r in rows]

    def model_findings(self, study_uid: str, version: int | None = None) -> list[dict]:
        """The model's original findings of one result version of a study as registered (None: the current
        version; empty if unknown)."""
        found = self.findings_by_version(study_uid)
        return found.get(max(found, default=0) if version is None else version, [])

    def findings_by_version(self, study_uid: str) -> dict[int, list[dict]]:
        """The model's original findings of every result version of a study (what carrying decisions over
        from one version to another compares), in registration order within each version."""
        rows = self._query(
            "SELECT r.version, m.finding_json FROM results r JOIN studies s ON s.id = r.study_id "
            "LEFT JOIN model_findings m ON m.result_id = r.id WHERE s.study_uid = ? ORDER BY r.version, m.id",
            (study_uid,),
        )
        found: dict[int, list[dict]] = {}
        for r in rows:
            findings = found.setdefault(int(r["version"]), [])
            if r["finding_json"] is not None:  # a result without findings has one row of NULLs
                findings.append(json.loads(r["finding_json"]))
        return found

    def schema_version(self) -> int:
        """The schema version stored in the database."""
        return int(self._query("SELECT version FROM schema_version WHERE id = 1")[0]["version"])


def _result_record(study_uid: str, row: Any) -> ResultRecord:
    return ResultRecord(
        study_uid=study_uid,
        version=int(row["version"]),
        result_path=row["result_path"],
        model_versions=_from_json(row["model_versions_json"]) or {},
        registered=row["registered"],
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
