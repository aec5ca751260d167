"""The team review store on a real PostgreSQL server (#19): the same calls give the same events as the
SQLite file, the database refuses rewrites, schema versions migrate and are refused when newer, four writer
processes on a fresh database lose nothing, a server restart is ridden out, and a review written through
PostgreSQL exports the same batch, byte for byte, as through SQLite."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mommi.cli import exit_codes
from mommi.cli.main import main
from mommi.feedback.export import export_batch
from mommi.feedback.store import (
    ENV_VAR,
    SCHEMA_VERSION,
    Event,
    PostgresReviewStore,
    ReviewInputError,
    ReviewSettingsError,
    ReviewStore,
    ReviewStoreError,
    ReviewStoreVersionError,
    SqliteReviewStore,
    StudyRecord,
    default_store_location,
    open_store,
)
from mommi.feedback.store_postgres import MIGRATIONS as PG_MIGRATIONS
from orthanc_server import free_port
from postgres_server import PASSWORD, postgres_missing, running_postgres
from test_review_store import OLD_DATA, _check_version_2_data, _start_writer, _written_ids

_names = itertools.count()


@pytest.fixture(scope="module")
def server():
    missing = postgres_missing()
    if missing:
        pytest.skip(missing)
    with running_postgres() as running:
        yield running


@pytest.fixture
def url(server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database; the password comes from PGPASSWORD, never from the URL."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    return server.create_database(f"reviews_{os.getpid()}_{next(_names)}")


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def _exercise(store: ReviewStore) -> list:
    """Every public call, refusals included; what each returned (for a comparison between databases).

    Row ids are the database's own (PostgreSQL's identities may leave gaps where SQLite's rowids do
    not): they are compared by their order, not their values."""
    seen: list = []
    seen.append(store.register_study("1.2.3", "patient-1", "a.json", [{"id": "f1", "box": [1, 2, 3, 4]}], {"d": "v"}))
    seen.append(store.register_study("1.2.3", "patient-1", "x.json", [{"id": "f1", "box": [1, 2, 3, 4]}], {"d": "v"}))
    seen.append(store.register_study("7.7.7", "patient-2", "b.json", [], {}))
    for call in (
        lambda: store.register_study("1.2.3", "patient-9", "a.json", [], {}),
        lambda: store.append_event("9.9.9", "dr.a", "first_reader", "accept"),
        lambda: store.append_event("1.2.3", " ", "first_reader", "accept"),
        lambda: store.append_event("1.2.3", "dr.a", "first_reader", "accept", after={"x": float("nan")}),
        lambda: store.append_event("1.2.3", "dr.a", "first_reader", "accept", result_version=2),
    ):
        with pytest.raises(ReviewInputError) as refused:
            call()
        seen.append(refused.value.reason)
    seen.append(
        store.append_event(
            "1.2.3",
            "dr.a",
            "first_reader",
            "move",
            "f1",
            {"box": [1, 2, 3, 4]},
            {"box": [2, 3, 4, 5]},
            {"n": "ü"},
            "v2",
        )
    )
    seen.append(store.append_event("1.2.3", "dr.b", "second_reader", "reject", finding_id="f2"))
    seen.append(store.append_event("7.7.7", "dr.a", "first_reader", "add"))
    # a re-analysis: a new result version with its own findings, a caller's key, decisions on either version
    seen.append(store.register_study("1.2.3", "patient-1", "b.json", [{"id": "f1", "score": 0.5}], {"d": "w"}, "k"))
    seen.append(store.register_study("1.2.3", "patient-1", "c.json", [], {"d": "w"}, result_key="k"))
    seen.append(store.append_event("1.2.3", "dr.a", "first_reader", "accept", finding_id="f1"))
    seen.append(store.append_event("1.2.3", "dr.b", "first_reader", "accept", finding_id="f1", result_version=1))
    events = store.events()
    seen += [events, store.events(study_uid="1.2.3"), store.events(reader="dr.a")]
    seen += [store.events(since=events[1].created), store.events(until=events[1].created)]
    seen += [store.studies(), store.study("7.7.7"), store.study("nope"), store.model_findings("1.2.3")]
    seen += [store.results("1.2.3"), store.findings_by_version("1.2.3"), store.model_findings("1.2.3", 1)]
    seen += [store.schema_version(), store.integrity_ok()]
    assert [e.id for e in events] == sorted({e.id for e in events})
    return [_ids_dropped(item) for item in seen]


def _ids_dropped(item: object) -> object:
    if isinstance(item, list):
        return [_ids_dropped(i) for i in item]
    return dataclasses.replace(item, id=0) if isinstance(item, (Event, StudyRecord)) else item


def test_the_same_calls_give_the_same_answers_as_the_sqlite_file(url: str, tmp_path: Path) -> None:
    with open_store(url, clock=FakeClock()) as team, open_store(tmp_path / "r.sqlite", clock=FakeClock()) as local:
        assert isinstance(team, PostgresReviewStore) and isinstance(local, SqliteReviewStore)
        on_server, in_file = _exercise(team), _exercise(local)
    assert on_server == in_file
    assert on_server[-2:] == [SCHEMA_VERSION, True]


def test_the_database_refuses_to_rewrite_decisions(url: str) -> None:
    import psycopg

    with open_store(url) as store:
        store.register_study("1.2.3", "p", "a.json", [{"id": "f1"}], {})
        store.append_event("1.2.3", "dr.a", "first_reader", "accept", finding_id="f1")
    with psycopg.connect(url, autocommit=True) as raw:  # another client, not our module
        for sql, says in (
            ("UPDATE events SET reader = 'someone'", "review events are append-only: UPDATE refused"),
            ("DELETE FROM events", "review events are append-only: DELETE refused"),
            ("TRUNCATE events CASCADE", "review events are append-only: TRUNCATE refused"),
            ("DELETE FROM model_findings", "model findings are the original output: DELETE refused"),
            ("UPDATE results SET result_path = 'x'", "result versions are what the readers saw: UPDATE refused"),
            ("TRUNCATE results CASCADE", "result versions are what the readers saw: TRUNCATE refused"),
        ):
            with pytest.raises(psycopg.errors.RaiseException, match=says):
                raw.execute(sql)
        raw.execute("DROP TRIGGER events_append_only ON events")
    with open_store(url) as store:
        assert len(store.events()) == 1
        assert not store.integrity_ok()  # a missing guard is reported


def test_migrates_from_version_1_and_refuses_a_newer_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute(PG_MIGRATIONS[0])
        raw.execute("UPDATE schema_version SET version = 1")
        raw.execute(
            "INSERT INTO studies (study_uid, patient_key, result_path, registered) VALUES ('1.2', 'p', 'r', 't')"
        )
        raw.execute(
            "INSERT INTO events (study_id, finding_id, reader, action, created) "
            "VALUES (1, 'f1', 'dr.old', 'accept', 't')"
        )
    with open_store(url) as store:
        assert store.schema_version() == SCHEMA_VERSION and store.integrity_ok()
        [old] = store.events()
        assert (old.reader, old.role, old.model_version) == ("dr.old", None, None)  # not recorded under version 1
        assert old.result_version == 1
        assert store.study("1.2").model_versions == {} and [r.version for r in store.results("1.2")] == [1]
    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(ReviewStoreVersionError, match=f"version {SCHEMA_VERSION + 1}, newer"):
        open_store(url)


def test_migrates_from_version_2_with_its_findings_and_decisions(url: str) -> None:
    """The sample data of every schema version up to 2 (those of the SQLite test) through PostgreSQL's
    migration 2 -> 3, which rewrites model findings under a lifted guard: the answers are SQLite's, the
    guards are all back, and the new result version works beside the migrated one."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as raw:
        for script in PG_MIGRATIONS[:2]:
            raw.execute(script)
        raw.execute("UPDATE schema_version SET version = 2")
        for version in (1, 2):
            for sql, params in OLD_DATA[version]:
                # the sample ids are SQLite's explicit ones; PostgreSQL's identities are GENERATED ALWAYS
                raw.execute(
                    sql.replace("?", "%s").replace(") VALUES", ") OVERRIDING SYSTEM VALUE VALUES")
                    if sql.startswith("INSERT INTO studies")
                    else sql.replace("?", "%s"),
                    params,
                )
    with open_store(url) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3 and store.integrity_ok()  # the guards are there
        old, *later = store.studies()
        assert old.study_uid == "old.1" and store.results("old.1")[0].version == 1
        first, *later_events = store.events()
        assert (first.study_uid, first.result_version) == ("old.1", 1)
        _check_version_2_data(store, later, later_events)
        assert store.integrity_ok()
    with psycopg.connect(url, autocommit=True) as raw:
        with pytest.raises(psycopg.errors.RaiseException, match="original output: UPDATE refused"):
            raw.execute("UPDATE model_findings SET finding_json = '{}'")


def test_a_database_of_something_else_is_not_taken_over(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as raw:
        raw.execute("CREATE TABLE patients (id INTEGER)")
    with pytest.raises(ReviewStoreError, match="not a MommiSlicer review database .*patients"):
        open_store(url)


def test_four_writer_processes_on_a_fresh_database_lose_nothing(url: str) -> None:
    """Four processes race creation, migration (advisory lock), registration and 100 appends each."""
    readers = [f"dr.{c}" for c in "abcd"]
    procs = [_start_writer(url, r, 100) for r in readers]  # type: ignore[arg-type]  # a URL where a path goes
    results = [p.communicate(timeout=180) for p in procs]
    for reader, proc, (out, err) in zip(readers, procs, results):
        assert proc.returncode == 0, f"{reader}: {err}"
        assert len(_written_ids(out)) == 100
    with open_store(url) as store:
        events = store.events()
        assert store.integrity_ok() and store.schema_version() == SCHEMA_VERSION
        assert len(store.studies()) == 1 and len(store.model_findings(store.studies()[0].study_uid)) == 2
        assert len(store.results(store.studies()[0].study_uid)) == 1  # four registrations of one result
    assert sorted((e.reader, e.payload["seq"]) for e in events) == sorted(
        (r, seq) for r in readers for seq in range(100)
    )
    assert {i for out, _ in results for i in _written_ids(out)} == {e.id for e in events}
    for r in readers:  # each writer's events are stored in its own order
        seqs = [e.payload["seq"] for e in events if e.reader == r]
        assert seqs == sorted(seqs)


def test_a_server_restart_is_ridden_out(server, url: str) -> None:
    with open_store(url) as store:
        store.register_study("1.2.3", "p", "a.json", [{"id": "f1"}], {})
        store.append_event("1.2.3", "dr.a", "first_reader", "accept", finding_id="f1")
        server.restart()  # every connection is cut
        store.append_event("1.2.3", "dr.a", "first_reader", "reject", finding_id="f1")
        assert [e.action for e in store.events()] == ["accept", "reject"]


def test_connection_failures_say_what_to_do(url: str, server, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = f"postgresql://mommi@127.0.0.1:{free_port()}/reviews"
    with pytest.raises(ReviewStoreError, match="cannot connect .*is the PostgreSQL server running"):
        open_store(refused)
    with pytest.raises(ReviewStoreError, match="does not exist"):
        open_store(server.url("no_such_database"))
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(ReviewStoreError, match="password authentication failed .*PGPASSWORD") as failed:
        open_store(url)
    assert failed.value.path is None and failed.value.location == url
    # a password written into the URL never reaches a message
    with_password = url.replace("mommi@", "mommi:hunter2@")
    with pytest.raises(ReviewStoreError) as failed:
        open_store(with_password)
    assert "hunter2" not in str(failed.value) and "mommi:***@" in str(failed.value)


def test_the_location_may_be_a_postgresql_url(tmp_path: Path) -> None:
    assert default_store_location("postgresql://team@db/reviews", {}) == "postgresql://team@db/reviews"
    assert default_store_location(None, {ENV_VAR: "postgres://db/r"}) == "postgres://db/r"
    config = tmp_path / "config" / "mommislicer"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"review_db": "postgresql://db.site/reviews"}))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    assert default_store_location(None, env, platform="linux") == "postgresql://db.site/reviews"
    with pytest.raises(ReviewSettingsError, match="SQLite file or a postgresql:// URL") as refused:
        default_store_location("mysql://u:pw@db/reviews", {})
    assert "pw@" not in str(refused.value)


def test_a_review_through_postgresql_exports_the_same_batch(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_review import _reviewed

    out = tmp_path / "analysis"
    assert main(["demo", "--out", str(out), "--device", "cpu", "--no-dicom"]) == exit_codes.OK
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # one site: one UID-remapping salt
    batches = {}
    for name, location in (("sqlite", tmp_path / "review.sqlite"), ("postgresql", url)):
        with open_store(location) as store:
            _reviewed(store, out / "result")
        # through the command line, the store chosen by MOMMI_REVIEW_DB as a site would set it
        monkeypatch.setenv(ENV_VAR, str(location))
        assert main(["feedback", "export", "--out", str(tmp_path / name), "--zip"]) == exit_codes.OK
        capsys.readouterr()
        assert main(["feedback", "stats", "--json"]) == exit_codes.OK
        stats = json.loads(capsys.readouterr().out)
        assert stats["studies"] == {"done": 1} and stats["findings"]["rejected"] == 1
        batches[name] = (tmp_path / f"{name}.zip").read_bytes()
    assert batches["sqlite"] == batches["postgresql"]
    with open_store(url) as store:  # and the Python API gives the same as well
        assert export_batch(store, tmp_path / "api", salt=b"s").counts["studies"] == 1
