"""The review store: schema, migrations, append-only events, location, durability, concurrency."""

from __future__ import annotations

import json
import random
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mommi.feedback.store import (
    ENV_VAR,
    MIGRATIONS,
    SCHEMA_VERSION,
    ReviewInputError,
    ReviewSettingsError,
    ReviewStore,
    ReviewStoreBusyError,
    ReviewStoreError,
    ReviewStoreVersionError,
    ResultRecord,
    default_store_location,
    open_store,
    split_statements,
)

WRITER = Path(__file__).with_name("review_writer.py")
UID = "1.2.3.4.5"
FINDINGS = [{"id": "f1", "box": [1, 2, 30, 40], "score": 0.9}, {"id": 7, "box": [5, 5, 9, 9], "score": 0.2}]


class FakeClock:
    """Times one second apart from a fixed start, so that time filters are exact."""

    def __init__(self) -> None:
        self.t = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


@pytest.fixture
def store(tmp_path: Path):
    with open_store(tmp_path / "nested" / "dir" / "review.sqlite", clock=FakeClock()) as s:
        s.register_study(UID, "patient-1", "results/a.json", FINDINGS, {"detector": "v2.0"})
        yield s


# --------------------------------------------------------------------------- schema and API


def test_new_database_is_current_wal_with_foreign_keys(store: ReviewStore) -> None:
    assert store.path.is_file()
    assert store.schema_version() == SCHEMA_VERSION == 3
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_ok()
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        store.conn.execute(
            "INSERT INTO events (study_id, reader, action, created) VALUES (999, 'x', 'y', '2024-01-01')"
        )


def test_append_and_read_back_with_json_geometry(store: ReviewStore) -> None:
    before = {"box": [1, 2, 30, 40], "contour": [[1.5, 2.25], [3.0, 4.0]]}
    after = {"box": [2, 3, 31, 41], "label": "mass ü"}
    written = store.append_event(
        UID,
        "dr.a",
        "first_reader",
        "move",
        finding_id="f1",
        before=before,
        after=after,
        payload={"note": "irregular"},
        model_version="v2.0",
    )
    assert written.id > 0 and written.created == "2024-05-01T12:00:02.123456+00:00"
    [read] = store.events()
    assert read == written
    assert (read.before, read.after, read.payload) == (before, after, {"note": "irregular"})
    assert (read.reader, read.role, read.action, read.finding_id, read.model_version) == (
        "dr.a",
        "first_reader",
        "move",
        "f1",
        "v2.0",
    )
    # the stored text is plain JSON (readable by any client, PostgreSQL included)
    raw = store.conn.execute("SELECT before_json FROM events").fetchone()[0]
    assert json.loads(raw) == before


def test_bad_appends_are_refused_with_typed_errors(store: ReviewStore) -> None:
    with pytest.raises(ReviewInputError, match="not registered") as info:
        store.append_event("9.9.9", "dr.a", "first_reader", "accept")
    assert str(store.path) in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(ReviewInputError, match="reader"):
        store.append_event(UID, "  ", "first_reader", "accept")
    with pytest.raises(ReviewInputError, match="JSON"):
        store.append_event(UID, "dr.a", "first_reader", "accept", after={"x": float("nan")})
    with pytest.raises(ReviewInputError, match="JSON"):
        store.append_event(UID, "dr.a", "first_reader", "accept", payload={"x": object()})
    assert store.events() == []
    store.append_event(UID, "dr.a", "first_reader", "accept")  # the connection is still usable
    assert len(store.events()) == 1


def test_filters(store: ReviewStore) -> None:
    store.register_study("7.7.7", "patient-2", "results/b.json", [], {})
    e1 = store.append_event(UID, "dr.a", "first_reader", "accept", finding_id="f1")  # 12:00:03
    e2 = store.append_event(UID, "dr.b", "second_reader", "reject", finding_id="f1")  # 12:00:04
    e3 = store.append_event("7.7.7", "dr.a", "first_reader", "add")  # 12:00:05
    assert store.events() == [e1, e2, e3]
    assert store.events(study_uid=UID) == [e1, e2]
    assert store.events(study_uid="7.7.7") == [e3]
    assert store.events(study_uid="nope") == []
    assert store.events(reader="dr.a") == [e1, e3]
    assert store.events(since=e2.created) == [e2, e3]  # inclusive
    assert store.events(until=e2.created) == [e1]  # exclusive
    assert store.events(since=e1.created, until=e3.created, reader="dr.b") == [e2]
    # another offset means the same instant; a time without offset is UTC
    assert store.events(since="2024-05-01T14:00:04.123456+02:00") == [e2, e3]
    assert store.events(until=datetime(2024, 5, 1, 12, 0, 4)) == [e1]
    with pytest.raises(ReviewInputError, match="ISO-8601"):
        store.events(since="yesterday")


def test_events_are_append_only(store: ReviewStore) -> None:
    store.append_event(UID, "dr.a", "first_reader", "accept", finding_id="f1")
    assert not hasattr(store, "update_event") and not hasattr(store, "delete_event")
    conn = store.conn
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET action = 'reject'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError, match="original output"):
        conn.execute("UPDATE model_findings SET finding_json = '{}'")
    with pytest.raises(sqlite3.IntegrityError, match="original output"):
        conn.execute("DELETE FROM model_findings")
    with pytest.raises(sqlite3.IntegrityError, match="what the readers saw"):
        conn.execute("UPDATE results SET result_path = 'elsewhere'")
    with pytest.raises(sqlite3.IntegrityError, match="what the readers saw"):
        conn.execute("DELETE FROM results")
    assert [e.action for e in store.events()] == ["accept"]
    assert len(store.model_findings(UID)) == 2 and len(store.results(UID)) == 1


def test_register_study_is_idempotent(store: ReviewStore) -> None:
    first = store.study(UID)
    assert first is not None and first.model_versions == {"detector": "v2.0"} and first.result_version == 1
    [v1] = store.results(UID)
    assert v1 == ResultRecord(UID, 1, "results/a.json", {"detector": "v2.0"}, first.registered)
    assert v1.model_version == "detector:v2.0"
    # the same result again (a moved result file, other key order of the findings' fields): the same version
    again = store.register_study(
        UID, "patient-1", "results/elsewhere.json", [dict(reversed(f.items())) for f in FINDINGS], {"detector": "v2.0"}
    )
    assert again == v1 and store.studies() == [first] and store.results(UID) == [v1]
    findings = store.model_findings(UID)
    assert [f["id"] for f in findings] == ["f1", 7] and findings[0] == FINDINGS[0]
    assert store.conn.execute("SELECT finding_id FROM model_findings WHERE finding_id = '7'").fetchone()
    assert store.study("nope") is None and store.model_findings("nope") == [] and store.results("nope") == []
    with pytest.raises(ReviewInputError, match="patient-1"):
        store.register_study(UID, "patient-OTHER", "x.json", [], {})
    with pytest.raises(ReviewInputError, match="has no 'id'"):
        store.register_study("8.8", "p", "x.json", [{"score": 1}], {})
    with pytest.raises(ReviewInputError, match="repeat"):
        store.register_study("8.8", "p", "x.json", [{"id": 1}, {"id": "1"}], {})
    with pytest.raises(ReviewInputError, match="result_key"):
        store.register_study("8.8", "p", "x.json", [], {}, result_key=" ")
    assert store.study("8.8") is None  # a refused registration leaves nothing behind


def test_a_new_result_of_a_study_is_a_new_current_version(store: ReviewStore) -> None:
    """A re-analysis with other models: version 2 with its own findings (the same ids may recur), current
    from then on; version 1, its findings and the decisions made on it stay."""
    on_v1 = store.append_event(UID, "dr.a", "first_reader", "accept", finding_id="f1", model_version="detector:v2.0")
    assert on_v1.result_version == 1
    new_findings = [{"id": "f1", "box": [3, 2, 30, 40], "score": 0.8}]
    v2 = store.register_study(UID, "patient-1", "results/b.json", new_findings, {"detector": "v3.0"})
    assert (v2.version, v2.result_path, v2.model_versions, v2.model_version) == (
        2,
        "results/b.json",
        {"detector": "v3.0"},
        "detector:v3.0",
    )
    study = store.study(UID)
    assert study is not None and (study.result_version, study.result_path, study.model_versions) == (
        2,
        "results/b.json",
        {"detector": "v3.0"},
    )
    assert store.model_findings(UID) == new_findings == store.model_findings(UID, 2)
    assert store.model_findings(UID, 1) == FINDINGS and store.model_findings(UID, 3) == []
    assert store.findings_by_version(UID) == {1: FINDINGS, 2: new_findings}
    # events name the version they were made on: the current one unless the caller says which
    on_v2 = store.append_event(UID, "dr.a", "first_reader", "reject", finding_id="f1")
    late_on_v1 = store.append_event(UID, "dr.b", "first_reader", "accept", finding_id="7", result_version=1)
    assert (on_v2.result_version, late_on_v1.result_version) == (2, 1)
    assert store.events(UID) == [on_v1, on_v2, late_on_v1]
    with pytest.raises(ReviewInputError, match="no result version 3"):
        store.append_event(UID, "dr.a", "first_reader", "accept", result_version=3)
    # the current result is always the latest: the first result registered again is version 3
    assert store.register_study(UID, "patient-1", "results/a.json", FINDINGS, {"detector": "v2.0"}).version == 3
    assert [r.version for r in store.results(UID)] == [1, 2, 3] and store.model_findings(UID) == FINDINGS
    # a caller's own key: the same key is the same result, whatever its findings (the first are kept)
    keyed = store.register_study(UID, "patient-1", "r.json", new_findings, {"detector": "v3.0"}, result_key="k")
    assert keyed.version == 4
    same = store.register_study(UID, "patient-1", "r2.json", [], {"detector": "v3.0"}, result_key="k")
    assert same == keyed and store.model_findings(UID) == new_findings
    with pytest.raises(ReviewInputError, match="patient-1"):  # still one patient per study, whatever the result
        store.register_study(UID, "patient-OTHER", "x.json", [], {"detector": "v9"})
    assert [r.version for r in store.results(UID)] == [1, 2, 3, 4] and store.integrity_ok()


def test_busy_database_is_waited_for_then_reported(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with open_store(db, busy_timeout_s=0.05, retry_seconds=10) as s:
        s.register_study(UID, "p", "r.json", [], {})
        blocker = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        threading.Timer(0.4, blocker.execute, args=("COMMIT",)).start()
        t0 = time.monotonic()
        s.append_event(UID, "dr.a", "first_reader", "accept")  # waits, retries, succeeds
        assert time.monotonic() - t0 >= 0.3
        blocker.execute("BEGIN IMMEDIATE")
        s.retry_seconds = 0.2
        with pytest.raises(ReviewStoreBusyError, match="busy") as info:
            s.append_event(UID, "dr.a", "first_reader", "reject")
        assert str(db) in str(info.value)
        blocker.execute("ROLLBACK")
        blocker.close()
        assert [e.action for e in s.events()] == ["accept"]


def test_not_a_review_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ReviewStoreError, match="not a database") as info:
        open_store(junk)
    assert str(junk) in str(info.value)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE patients (id INTEGER)")
    with pytest.raises(ReviewStoreError, match="not a MommiSlicer review database"):
        open_store(other)


# --------------------------------------------------------------------------- migrations


def build_database_at(path: Path, version: int) -> None:
    """A database exactly as MommiSlicer left it at ``version`` (what the runner does)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for script in MIGRATIONS[:version]:
        for statement in split_statements(script):
            conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.execute("COMMIT")
    conn.close()


#: rows valid at each version: (version, statements); each version also has its predecessors' tables
OLD_DATA: dict[int, list[tuple[str, tuple]]] = {
    1: [
        (
            "INSERT INTO studies (id, study_uid, patient_key, result_path, registered) VALUES (?, ?, ?, ?, ?)",
            (1, "old.1", "patient-old", "results/old.json", "2023-01-02T03:04:05.000006+00:00"),
        ),
        (
            "INSERT INTO events (study_id, finding_id, reader, action, before_json, after_json, payload_json, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                1,
                "f1",
                "dr.old",
                "move",
                '{"box":[1,2,3,4]}',
                '{"box":[2,3,4,5]}',
                None,
                "2023-01-02T03:05:00.000000+00:00",
            ),
        ),
    ],
    2: [
        (
            "INSERT INTO studies (id, study_uid, patient_key, result_path, registered, model_versions_json) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (2, "old.2", "patient-two", "results/two.json", "2023-02-01T00:00:00.000000+00:00", '{"detector":"v2"}'),
        ),
        (
            "INSERT INTO model_findings (study_id, finding_id, finding_json) VALUES (?, ?, ?)",
            (2, "L-CC-1", '{"box_px":[10,10,50,50],"id":"L-CC-1","score":0.9,"view":"L-CC"}'),
        ),
        (
            "INSERT INTO model_findings (study_id, finding_id, finding_json) VALUES (?, ?, ?)",
            (2, "L-CC-2", '{"box_px":[200,200,240,260],"id":"L-CC-2","score":0.4,"view":"L-CC"}'),
        ),
        (
            "INSERT INTO events (study_id, finding_id, reader, role, action, model_version, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (2, "L-CC-1", "dr.two", "radiologist", "accept", "detector:v2", "2023-02-01T00:01:00.000000+00:00"),
        ),
    ],
}


def test_split_statements_keeps_trigger_bodies_whole() -> None:
    statements = split_statements(MIGRATIONS[1])
    triggers = [s for s in statements if "CREATE TRIGGER" in s]
    assert len(triggers) == 4 and all(s.endswith("END;") for s in triggers)
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE a (x INTEGER);\nCREATE TABLE b (")


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migrates_from_every_older_version(tmp_path: Path, version: int) -> None:
    assert set(OLD_DATA) == set(range(1, SCHEMA_VERSION)), "add sample data for the new schema version"
    db = tmp_path / "old.sqlite"
    build_database_at(db, version)
    conn = sqlite3.connect(db)
    for v in range(1, version + 1):
        for sql, params in OLD_DATA[v]:
            conn.execute(sql, params)
    conn.commit()
    conn.close()

    with open_store(db) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.integrity_ok()
        study, *later = s.studies()
        assert (study.study_uid, study.patient_key, study.result_path, study.model_versions, study.result_version) == (
            "old.1",
            "patient-old",
            "results/old.json",
            {},
            1,
        )
        # every study's registration so far is its result version 1
        assert s.results("old.1") == [ResultRecord("old.1", 1, "results/old.json", {}, study.registered)]
        old, *later_events = s.events()
        assert old.result_version == 1  # not recorded before version 3: made on the only result there was
        assert (old.reader, old.action, old.finding_id, old.before, old.after, old.created) == (
            "dr.old",
            "move",
            "f1",
            {"box": [1, 2, 3, 4]},
            {"box": [2, 3, 4, 5]},
            "2023-01-02T03:05:00.000000+00:00",
        )
        assert old.role is None and old.model_version is None  # not recorded before version 2
        if version >= 2:
            _check_version_2_data(s, later, later_events)
        # new rows can be added beside the old ones; the first registration with models is a new result
        registered = s.register_study("old.1", "patient-old", "results/old.json", FINDINGS, {"detector": "v2"})
        assert registered.version == 2 and len(s.model_findings("old.1")) == 2
        new = s.append_event("old.1", "dr.new", "arbitrator", "accept", finding_id="f1", model_version="v2")
        assert [e.id for e in s.events(study_uid="old.1")] == [old.id, new.id] and new.result_version == 2
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            s.conn.execute("DELETE FROM events")
        with pytest.raises(sqlite3.IntegrityError, match="original output"):  # the rebuilt table keeps its guard
            s.conn.execute("UPDATE model_findings SET finding_json = '{}'")
        count = len(s.events())
    with open_store(db) as s:  # reopening an up-to-date database changes nothing
        assert s.schema_version() == SCHEMA_VERSION and len(s.events()) == count


def _check_version_2_data(store: ReviewStore, studies: list, events: list) -> None:
    """A study of schema 2 with its model findings and a decision, after the migration (also on PostgreSQL)."""
    [two] = studies
    assert (two.study_uid, two.patient_key, two.result_path, two.model_versions, two.result_version) == (
        "old.2",
        "patient-two",
        "results/two.json",
        {"detector": "v2"},
        1,
    )
    assert [r.version for r in store.results("old.2")] == [1]
    findings = store.model_findings("old.2")
    assert [f["id"] for f in findings] == ["L-CC-1", "L-CC-2"] and store.model_findings("old.2", 1) == findings
    [decision] = events
    assert (decision.study_uid, decision.finding_id, decision.role, decision.model_version) == (
        "old.2",
        "L-CC-1",
        "radiologist",
        "detector:v2",
    )
    assert decision.result_version == 1
    # no key was recorded then: the same models with the same finding ids (their scores a device's last
    # digits apart) are still version 1, the same models with other findings (another operating point) not
    noisy = [{**f, "score": f["score"] + 1e-6} for f in findings]
    assert store.register_study("old.2", "patient-two", "results/two.json", noisy, {"detector": "v2"}).version == 1
    assert store.model_findings("old.2") == findings  # the first registration is what the readers saw
    fewer = findings[:1]
    assert store.register_study("old.2", "patient-two", "r.json", fewer, {"detector": "v2"}).version == 2
    # a new zoo: version 3; the finding ids recur, now per result
    moved = [{**findings[0], "box_px": [12, 10, 52, 50]}]
    assert store.register_study("old.2", "patient-two", "r.json", moved, {"detector": "v3"}).version == 3
    assert store.findings_by_version("old.2") == {1: findings, 2: fewer, 3: moved}


def test_a_newer_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    build_database_at(db, SCHEMA_VERSION)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ReviewStoreVersionError, match="newer") as info:
        open_store(db)
    assert str(db) in str(info.value) and f"version {SCHEMA_VERSION + 1}" in str(info.value)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION + 1


# --------------------------------------------------------------------------- location


def test_default_store_location_precedence(tmp_path: Path) -> None:
    home, config = tmp_path / "home", tmp_path / "cfg"
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(config)}
    linux = dict(platform="linux")
    assert default_store_location(env=env, **linux) == home / ".local" / "share" / "mommislicer" / "review.sqlite"
    assert default_store_location(env={**env, "XDG_DATA_HOME": str(tmp_path / "d")}, **linux) == (
        tmp_path / "d" / "mommislicer" / "review.sqlite"
    )
    assert default_store_location(env={**env, "XDG_DATA_HOME": "relative"}, **linux) == (
        home / ".local" / "share" / "mommislicer" / "review.sqlite"
    )  # XDG: relative ignored

    settings = config / "mommislicer" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"review_db": str(tmp_path / "from-settings.sqlite"), "other": 1}))
    assert default_store_location(env=env, **linux) == tmp_path / "from-settings.sqlite"
    settings.write_text(json.dumps({"review_db": "sub/r.sqlite"}))
    assert default_store_location(env=env, **linux) == settings.parent / "sub" / "r.sqlite"

    env[ENV_VAR] = str(tmp_path / "from-env.sqlite")
    assert default_store_location(env=env, **linux) == tmp_path / "from-env.sqlite"
    assert default_store_location(str(tmp_path / "cli.sqlite"), env=env, **linux) == tmp_path / "cli.sqlite"

    del env[ENV_VAR]
    settings.write_text("{not json")
    with pytest.raises(ReviewSettingsError, match="settings") as info:
        default_store_location(env=env, **linux)
    assert str(settings) in str(info.value)
    assert default_store_location("explicit.sqlite", env=env, **linux) == Path("explicit.sqlite")  # not even read


def test_default_store_location_on_macos_and_windows(tmp_path: Path) -> None:
    assert default_store_location(env={"HOME": str(tmp_path)}, platform="darwin") == (
        tmp_path / "Library" / "Application Support" / "mommislicer" / "review.sqlite"
    )
    appdata = tmp_path / "AppData" / "Roaming"
    assert default_store_location(env={"APPDATA": str(appdata)}, platform="win32") == (
        appdata / "mommislicer" / "review.sqlite"
    )


# --------------------------------------------------------------------------- other processes


def _start_writer(db: Path, reader: str, count: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(db), reader, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _written_ids(stdout: str) -> list[int]:
    """Ids from complete ``written N`` lines (a line cut by the kill promises nothing)."""
    return [
        int(line.split()[1])
        for line in stdout.splitlines(keepends=True)
        if line.endswith("\n") and line.startswith("written ")
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_events_survive_a_writer_killed_at_random_moments(tmp_path: Path) -> None:
    """50 kills, one database: killed during start-up, migration, registration or appends."""
    db = tmp_path / "killed.sqlite"
    rng = random.Random(20240501)
    promised: dict[int, str] = {}
    iterations_with_writes = 0
    for i in range(50):
        reader = f"killed-{i}"
        proc = _start_writer(db, reader, 100_000)
        try:
            if i % 2:  # odd: kill while appending, a random moment after the first returned write
                sel = selectors.DefaultSelector()
                sel.register(proc.stdout, selectors.EVENT_READ)
                assert sel.select(timeout=20), "the writer printed nothing within 20 s"
                sel.close()
                first = proc.stdout.readline()
                time.sleep(rng.uniform(0.0, 0.08))
            else:  # even: kill at a random moment from the start (start-up, migration, first writes)
                first = ""
                time.sleep(rng.uniform(0.02, 0.2))
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL, f"the writer ended on its own: {err}"
        ids = _written_ids(first + out)
        iterations_with_writes += bool(ids)
        promised.update((event_id, reader) for event_id in ids)

        with open_store(db) as s:
            assert s.integrity_ok(), f"integrity check failed after kill {i}"
            stored = {e.id: e.reader for e in s.events()}
        missing = {k: v for k, v in promised.items() if stored.get(k) != v}
        assert not missing, f"after kill {i}, events whose write returned are missing: {sorted(missing)[:10]}"
    assert iterations_with_writes >= 25 and len(promised) >= 100, (iterations_with_writes, len(promised))


def test_four_writers_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"  # fresh: the four also race creation, migration and registration
    readers = [f"dr.{c}" for c in "abcd"]
    procs = [_start_writer(db, r, 100) for r in readers]
    results = [p.communicate(timeout=120) for p in procs]
    for reader, proc, (out, err) in zip(readers, procs, results):
        assert proc.returncode == 0, f"{reader}: {err}"
        assert "Error" not in err and "Traceback" not in err, err
        assert len(_written_ids(out)) == 100
    with open_store(db) as s:
        events = s.events()
        assert s.integrity_ok()
        assert len(s.studies()) == 1 and len(s.model_findings(s.studies()[0].study_uid)) == 2
        assert len(s.results(s.studies()[0].study_uid)) == 1  # four registrations of one result: one version
    assert len(events) == 400
    assert sorted((e.reader, e.payload["seq"]) for e in events) == sorted(
        (r, seq) for r in readers for seq in range(100)
    )
    printed = {i for out, _ in results for i in _written_ids(out)}
    assert printed == {e.id for e in events}
    for r in readers:  # each writer's events are stored in its own order
        seqs = [e.payload["seq"] for e in events if e.reader == r]
        assert seqs == sorted(seqs)
