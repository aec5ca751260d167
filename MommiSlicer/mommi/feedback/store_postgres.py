"""The review store on PostgreSQL: one database for a reading team on several workstations.

Chosen by URL (``postgresql://user@host:5432/reviews``); passwords come from libpq's own sources
(``PGPASSWORD``, ``~/.pgpass``, ``PGPASSFILE``), TLS from the URL's ``sslmode`` / ``sslrootcert``, as for
every libpq client. The same schema versions as the SQLite file, in PostgreSQL's dialect; the shared SQL
of ``store_base`` is written with qmark parameters and turned into psycopg's ``%s`` here.

Concurrency: every write is its own READ COMMITTED transaction (``INSERT ... ON CONFLICT DO NOTHING``
makes registration race-free); migrations take a transaction-level advisory lock, so several workstations
starting at once migrate once. A serialisation conflict, a deadlock victim or a lost connection (a server
restart) is retried on a new connection within ``retry_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mommi.feedback.store_base import SCHEMA_VERSION, ReviewStore, ReviewStoreError

#: the key of the advisory lock that serialises migrations (any constant, the same in every MommiSlicer)
MIGRATION_LOCK = 0x4D4F4D4D49  # "MOMMI"
SCHEMES = ("postgresql", "postgres")

# MIGRATIONS[i] upgrades version i to i + 1, like ``store_sqlite.MIGRATIONS`` (the same tables, columns
# and refusals). PostgreSQL runs DDL inside the transaction, so a failed step leaves the old version.
# Never edit a released script: append one to both lists.
MIGRATIONS: list[str] = [
    # ---- 0 -> 1: the first design: studies and their review events
    """
    CREATE TABLE schema_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    );
    INSERT INTO schema_version (id, version) VALUES (1, 0);

    CREATE TABLE studies (
        id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        study_uid TEXT NOT NULL UNIQUE,
        patient_key TEXT NOT NULL,
        result_path TEXT NOT NULL,
        registered TEXT NOT NULL
    );

    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    """
    ALTER TABLE studies ADD COLUMN model_versions_json TEXT;
    ALTER TABLE events ADD COLUMN role TEXT;
    ALTER TABLE events ADD COLUMN model_version TEXT;

    CREATE TABLE model_findings (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        study_id INTEGER NOT NULL REFERENCES studies (id),
        finding_id TEXT NOT NULL,
        finding_json TEXT NOT NULL,
        UNIQUE (study_id, finding_id)
    );

    CREATE INDEX events_study_id ON events (study_id);
    CREATE INDEX events_created ON events (created);

    -- Append-only, enforced by the database for every client, not only this module (TRUNCATE too,
    -- which SQLite does not have).
    CREATE FUNCTION mommi_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%: % refused', TG_ARGV[0], TG_OP;
    END
    $$;
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
        FOR EACH ROW EXECUTE FUNCTION mommi_refuse_change('review events are append-only');
    CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION mommi_refuse_change('review events are append-only');
    CREATE TRIGGER model_findings_original BEFORE UPDATE OR DELETE ON model_findings
        FOR EACH ROW EXECUTE FUNCTION mommi_refuse_change('model findings are the original output');
    CREATE TRIGGER model_findings_no_truncate BEFORE TRUNCATE ON model_findings
        FOR EACH STATEMENT EXECUTE FUNCTION mommi_refuse_change('model findings are the original output');
    """,
    # ---- 2 -> 3: result versions (as in SQLite: every study's registration so far becomes its version 1;
    # model findings move from their study to its result; old events keep result_id NULL, made on version 1).
    # Setting each model finding's result is the one rewrite a migration makes: the row guard is dropped
    # for that UPDATE and re-created at once, inside this transaction (no other client sees it missing).
    """
    CREATE TABLE results (
        id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

    ALTER TABLE model_findings ADD COLUMN result_id INTEGER REFERENCES results (id);
    DROP TRIGGER model_findings_original ON model_findings;
    UPDATE model_findings m SET result_id = r.id FROM results r WHERE r.study_id = m.study_id;
    CREATE TRIGGER model_findings_original BEFORE UPDATE OR DELETE ON model_findings
        FOR EACH ROW EXECUTE FUNCTION mommi_refuse_change('model findings are the original output');
    ALTER TABLE model_findings ALTER COLUMN result_id SET NOT NULL;
    ALTER TABLE model_findings DROP COLUMN study_id;  -- its UNIQUE (study_id, finding_id) goes with it
    ALTER TABLE model_findings ADD UNIQUE (result_id, finding_id);

    ALTER TABLE events ADD COLUMN result_id INTEGER REFERENCES results (id);

    CREATE TRIGGER results_original BEFORE UPDATE OR DELETE ON results
        FOR EACH ROW EXECUTE FUNCTION mommi_refuse_change('result versions are what the readers saw');
    CREATE TRIGGER results_no_truncate BEFORE TRUNCATE ON results
        FOR EACH STATEMENT EXECUTE FUNCTION mommi_refuse_change('result versions are what the readers saw');
    """,
]

#: the triggers whose absence means events could be rewritten (checked by ``integrity_ok``)
APPEND_ONLY_TRIGGERS = frozenset(
    {
        "events_append_only",
        "events_no_truncate",
        "model_findings_original",
        "model_findings_no_truncate",
        "results_original",
        "results_no_truncate",
    }
)

if len(MIGRATIONS) != SCHEMA_VERSION:  # pragma: no cover - a developer's mistake, caught on import
    raise RuntimeError(f"PostgreSQL has {len(MIGRATIONS)} migration scripts for schema version {SCHEMA_VERSION}")


def is_postgres_url(value: str) -> bool:
    return value.split("://", 1)[0].lower() in SCHEMES and "://" in value


def redacted(url: str) -> str:
    """The URL without its password, for messages and the user interface."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _qmark_to_format(sql: str) -> str:
    """psycopg's placeholders from the shared qmark SQL (which holds no literal ``?`` or ``%``)."""
    if "%" in sql:  # pragma: no cover - a developer's mistake: the shared SQL never needs one
        raise ValueError(f"the shared SQL must not hold '%': {sql[:80]!r}")
    return sql.replace("?", "%s")


class PostgresReviewStore(ReviewStore):
    """The review store in a PostgreSQL database (its current schema), migrated on construction."""

    def __init__(
        self,
        url: str,
        *,
        retry_seconds: float = 30.0,
        connect_timeout_s: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(retry_seconds=retry_seconds, clock=clock)
        if not is_postgres_url(url):
            raise ReviewStoreError(redacted(url), "a PostgreSQL review store is given as postgresql://...")
        self.location = self._url = url
        self._display = redacted(url)
        self._connect_timeout_s = connect_timeout_s
        try:
            import psycopg
        except ImportError:
            raise ReviewStoreError(
                self._display, "a PostgreSQL review store needs the postgres extra: pip install 'mommislicer[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._conn: Any = None
        self._conn = self._connect()
        self._open()

    @property
    def display_location(self) -> str:
        return self._display

    def _connect(self) -> Any:
        from psycopg.rows import dict_row

        try:
            # autocommit: a statement outside ``_write_transaction`` is its own transaction (reads see
            # every committed event at once); writes open theirs explicitly
            return self._psycopg.connect(
                self._url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, round(self._connect_timeout_s)),
                application_name="mommislicer",
            )
        except self._psycopg.Error as exc:
            raise ReviewStoreError(
                self._display, f"cannot connect to the review database: {_connection_cause(exc)}"
            ) from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise ReviewStoreError(self._display, "the review database is closed")
        return self._conn

    # ---- the hooks of ReviewStore

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(_qmark_to_format(sql), params)

    def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_qmark_to_format(sql), rows)

    def _insert_returning_id(self, sql: str, params: Sequence[Any]) -> int:
        return int(self._execute(sql + " RETURNING id", params).fetchone()["id"])

    @contextmanager
    def _write_transaction(self, migration: bool = False) -> Iterator[None]:
        with self.conn.transaction():
            if migration:  # held to the end of the transaction: other workstations wait, then find it done
                self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield

    def _lock_study(self, study_id: int) -> None:
        # the study's row lock: a second registration waits here, then (READ COMMITTED) sees the first's result
        self._execute("SELECT id FROM studies WHERE id = ? FOR UPDATE", (study_id,))

    def _table_names(self) -> set[str]:
        rows = self.conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        ).fetchall()
        return {row["table_name"] for row in rows}

    def _apply_migration(self, version: int) -> None:
        self.conn.execute(MIGRATIONS[version])  # no parameters: psycopg sends the script as one query

    def _is_driver_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self._psycopg.Error)

    def _is_transient(self, exc: BaseException) -> bool:
        errors = self._psycopg.errors
        if isinstance(exc, (errors.SerializationFailure, errors.DeadlockDetected, errors.LockNotAvailable)):
            return True
        if not isinstance(exc, self._psycopg.OperationalError):
            return False
        # a lost connection (server restarted or shut down, network cut): _recover makes a new one.
        # SQLSTATE class 08 is "connection exception", 57P "the server is shutting down or starting".
        state = getattr(exc, "sqlstate", None) or ""
        return state.startswith(("08", "57P")) or self._conn is None or self._conn.closed

    def _recover(self) -> None:
        conn = self._conn
        if conn is None or not conn.closed:
            return  # ``transaction()`` already rolled back: the connection is usable
        try:
            self._conn = self._connect()
        except ReviewStoreError:
            self._conn = conn  # still closed: the next attempt tries again

    def integrity_ok(self) -> bool:
        """True when no reference dangles and the append-only triggers are in place (PostgreSQL enforces
        its own page integrity; a missing trigger would let any client rewrite the decisions)."""
        dangling = self._query(
            "SELECT (SELECT count(*) FROM events e LEFT JOIN studies s ON s.id = e.study_id WHERE s.id IS NULL)"
            " + (SELECT count(*) FROM events e LEFT JOIN results r ON r.id = e.result_id"
            " WHERE e.result_id IS NOT NULL AND r.id IS NULL)"
            " + (SELECT count(*) FROM results r LEFT JOIN studies s ON s.id = r.study_id WHERE s.id IS NULL)"
            " + (SELECT count(*) FROM model_findings m LEFT JOIN results r ON r.id = m.result_id"
            " WHERE r.id IS NULL) AS n"
        )[0]["n"]
        triggers = {
            r["tgname"]
            for r in self._query(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
            )
        }
        return dangling == 0 and APPEND_ONLY_TRIGGERS <= triggers


def _connection_cause(exc: BaseException) -> str:
    """libpq's message in one line, with what to do for the usual causes."""
    text = " ".join(str(exc).split())
    if "password authentication failed" in text or "no password supplied" in text:
        return f"{text} (give the password in PGPASSWORD or ~/.pgpass, not in the URL)"
    if "Connection refused" in text:
        return f"{text} (is the PostgreSQL server running, and is this its host and port?)"
    if "does not exist" in text:
        return f"{text} (create it with createdb, or ask the database administrator)"
    return text or type(exc).__name__
