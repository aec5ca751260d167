"""The review store in one SQLite file: the workstation's default (no server to run).

SQLite specifics live here: WAL journaling with ``synchronous=FULL`` (a returned write survives a crash),
``BEGIN IMMEDIATE`` write transactions, the busy timeout, and the schema scripts in SQLite's dialect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from mommi.feedback.store_base import SCHEMA_VERSION, ReviewStore, ReviewStoreError


# Version 0 is an empty file. MIGRATIONS[i] upgrades version i to i + 1; the
# runner (``_migrate``) writes the new number into ``schema_version`` after each
# script, inside the same transaction. Never edit a released script: append one.
#
# The same versions in PostgreSQL's dialect are ``store_postgres.MIGRATIONS``: a new version adds a script
# to both. ``id INTEGER PRIMARY KEY`` is SQLite's rowid alias (generated ids); no AUTOINCREMENT: ids are
# never reused because rows are never deleted.
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
    # ---- 2 -> 3: result versions. A study analysed again (another zoo, another operating point) keeps each
    # result with its own findings; events record the result they were made on.
    # Every study's registration so far becomes its result version 1 (result_key NULL: not recorded); the
    # studies row keeps its result_path and model_versions_json as the first registration's. model_findings
    # move from their study to its result: their UNIQUE (study_id, finding_id) must become (result_id,
    # finding_id), which SQLite can only do by rebuilding the table (rows and ids copied as they are; DROP
    # TABLE removes the old table's triggers and fires none; nothing references model_findings).
    # Events are not rewritten: result_id is a new nullable column, NULL on the old events (made on version 1).
    """
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id),
        version INTEGER NOT NULL CHECK (version >= 1),
        result_key TEXT,
        result_path TEXT NOT NULL,
        model_versions_json TEXT,
        registered TEXT NOT NULL,
        UNIQUE (study_id, version)
    );
    INSERT INTO results (study_id, version, result_key, result_path, model_versions_json, registered)
        SELECT id, 1, NULL, result_path, model_versions_json, registered FROM studies ORDER BY id;

    CREATE TABLE model_findings_v3 (
        id INTEGER PRIMARY KEY,
        result_id INTEGER NOT NULL REFERENCES results (id),
        finding_id TEXT NOT NULL,
        finding_json TEXT NOT NULL,
        UNIQUE (result_id, finding_id)
    );
    INSERT INTO model_findings_v3 (id, result_id, finding_id, finding_json)
        SELECT m.id, r.id, m.finding_id, m.finding_json
        FROM model_findings m JOIN results r ON r.study_id = m.study_id ORDER BY m.id;
    DROP TABLE model_findings;
    ALTER TABLE model_findings_v3 RENAME TO model_findings;
    CREATE TRIGGER model_findings_no_update BEFORE UPDATE ON model_findings
    BEGIN
        SELECT RAISE(ABORT, 'model findings are the original output: UPDATE refused');
    END;
    CREATE TRIGGER model_findings_no_delete BEFORE DELETE ON model_findings
    BEGIN
        SELECT RAISE(ABORT, 'model findings are the original output: DELETE refused');
    END;

    ALTER TABLE events ADD COLUMN result_id INTEGER REFERENCES results (id);

    -- a result version is what the readers saw: kept as registered, like the findings
    CREATE TRIGGER results_no_update BEFORE UPDATE ON results
    BEGIN
        SELECT RAISE(ABORT, 'result versions are what the readers saw: UPDATE refused');
    END;
    CREATE TRIGGER results_no_delete BEFORE DELETE ON results
    BEGIN
        SELECT RAISE(ABORT, 'result versions are what the readers saw: DELETE refused');
    END;
    """,
]


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


if len(MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - a developer's mistake, caught on import
    raise RuntimeError(f"SQLite has {len(MIGRATIONS)} migration scripts for schema version {SCHEMA_VERSION}")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
        return True
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteReviewStore(ReviewStore):
    """The review store in one SQLite file, created (with its folder) and migrated on construction."""

    def __init__(
        self,
        path: Path | str,
        *,
        retry_seconds: float = 30.0,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(retry_seconds=retry_seconds, clock=clock)
        self.location = self._path = Path(path).expanduser()
        self._conn: sqlite3.Connection | None = None
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReviewStoreError(self._path, f"cannot create the folder of the review database: {exc}") from exc
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit
            conn = sqlite3.connect(self._path, timeout=busy_timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise ReviewStoreError(self._path, f"cannot open the review database: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            self._retrying("set up the connection", self._configure)
        except BaseException:
            self.close()
            raise
        self._open()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def display_location(self) -> str:
        return str(self._path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ReviewStoreError(self._path, "the review database is closed")
        return self._conn

    def _configure(self) -> None:
        conn = self.conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ReviewStoreError(self._path, f"the review database cannot use WAL journaling (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")  # a returned write survives a crash
        conn.execute("PRAGMA foreign_keys=ON")
        if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
            raise ReviewStoreError(self._path, "this SQLite build cannot enforce foreign keys")

    # ---- the hooks of ReviewStore

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def _insert_returning_id(self, sql: str, params: Sequence[Any]) -> int:
        row_id = self.conn.execute(sql, params).lastrowid
        if row_id is None:  # pragma: no cover - an INSERT always sets it
            raise ReviewStoreError(self._path, "the database gave no id for the new row")
        return int(row_id)

    @contextmanager
    def _write_transaction(self, migration: bool = False) -> Iterator[None]:
        # IMMEDIATE takes the write lock at once: no deadlock between two readers that both upgrade
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._rollback_quietly()
            raise
        conn.execute("COMMIT")

    def _lock_study(self, study_id: int) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds off every other writer of the file."""

    def _table_names(self) -> set[str]:
        return {
            row["name"]
            for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row["name"].startswith("sqlite_")
        }

    def _apply_migration(self, version: int) -> None:
        # not executescript: it commits the open transaction first, and the version bump must be in it
        for statement in split_statements(MIGRATIONS[version]):
            self.conn.execute(statement)

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.Error)

    def _is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and _is_busy(exc)

    def _recover(self) -> None:
        self._rollback_quietly()

    def _rollback_quietly(self) -> None:
        """End a failed transaction so that the connection stays usable."""
        conn = self._conn
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the transaction is gone already; the original error is the one to report

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check says "ok" and no foreign key dangles."""
        rows = self._query("PRAGMA integrity_check")
        if [r[0] for r in rows] != ["ok"]:
            return False
        return not self._query("PRAGMA foreign_key_check")
