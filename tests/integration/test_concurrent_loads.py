"""Files load in parallel (fp_ingest's load tasks share a pool of slots): several files of one
source loaded at once leave exactly what loading them one after another leaves, and a file
taken by two loads at once is loaded once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from include.ingest import landing, loader
from include.warehouse import schema
from tests.extracts import PSEUDONYMIZE

_LEDGER = """select d.file_name, source_code, as_of_date, delivery_no, status, reason, rows_read, rows_loaded,
                    rows_quarantined, rows_duplicate, rows_warned, effective_status,
                    (select s.file_name from ingest.file_ledger s where s.file_id = d.superseded_by_file_id)
             from ingest.file_deliveries d order by d.file_name"""
_QUARANTINE = """select l.file_name, q.row_number, q.record, q.reasons from ingest.quarantine q
                 join ingest.file_ledger l using (file_id) order by 1, 2"""
_WARNINGS = """select l.file_name, w.row_number, w.row_key, w.column_name, w.warning from ingest.row_warnings w
               join ingest.file_ledger l using (file_id) order by 1, 2, 4, 5"""


def _raw(conn: psycopg.Connection, table: str) -> list[tuple]:
    """The raw table's rows with their file's name in place of its id (ids follow the load order)."""
    columns = [c for (c,) in conn.execute(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s "
        "and column_name <> '_file_id' order by ordinal_position", (table.split(".")[1],))]
    shown = ", ".join(f"r.{c}::text" for c in columns)
    return conn.execute(f"select l.file_name, {shown} from {table} r join ingest.file_ledger l "
                        f"on l.file_id = r._file_id order by 1, r._row_number").fetchall()


def _state(url: str, table: str) -> dict[str, list]:
    with psycopg.connect(url) as conn:
        return {"ledger": conn.execute(_LEDGER).fetchall(), "quarantine": conn.execute(_QUARANTINE).fetchall(),
                "warnings": conn.execute(_WARNINGS).fetchall(), "raw": _raw(conn, table)}


def _load_all_at_once(url: str, paths: list[Path]) -> list[loader.LoadResult]:
    """Each file on a connection and thread of its own, all released together."""
    start = threading.Barrier(len(paths))

    def load(path: Path) -> loader.LoadResult:
        with psycopg.connect(url) as conn:
            start.wait()
            return loader.load_file(conn, path, PSEUDONYMIZE)

    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(load, paths))


@pytest.fixture
def second_db(server_url):
    import uuid

    from include.warehouse import connection

    name = f"fpwh_test_{uuid.uuid4().hex[:10]}"
    url = connection.with_database(server_url, name)
    connection.ensure_database(url)
    yield url
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _prepared(url: str) -> str:
    with psycopg.connect(url) as conn:
        schema.apply(conn)
    return url


def test_files_of_one_source_loaded_at_once_leave_what_one_by_one_leaves(demo_landing, fresh_db, second_db,
                                                                        tmp_path):
    # one source's every delivery of the synthetic months, with 1 % defects, and a corrected
    # delivery (_2) of its first month that supersedes the first: loaded together, they race
    # for the ledger, the raw table and the supersession rule
    files = sorted(demo_landing.glob("jsw_ylfn_*.csv"))
    assert len(files) >= 4, files
    corrected = tmp_path / files[0].name.replace(".csv", "_2.csv")
    lines = files[0].read_bytes().splitlines(keepends=True)
    corrected.write_bytes(b"".join(lines[:-5]))  # five rows fewer
    paths = [*files, corrected]
    table = landing.parse_name(files[0].name).source.raw_table

    together = _load_all_at_once(_prepared(fresh_db), paths)
    with psycopg.connect(_prepared(second_db)) as conn:
        one_by_one = [loader.load_file(conn, p, PSEUDONYMIZE) for p in paths]

    assert [r.status for r in together] == [loader.LoadStatus.LOADED] * len(paths)
    assert [r.to_dict() | {"file_id": None} for r in together] == [r.to_dict() | {"file_id": None}
                                                                   for r in one_by_one]
    assert sum(r.rows_quarantined for r in together) > 0  # the defects are there to be raced over
    concurrent, sequential = _state(fresh_db, table), _state(second_db, table)
    for part in ("ledger", "quarantine", "warnings", "raw"):
        assert concurrent[part] == sequential[part], part
    statuses = {row[0]: row[11] for row in concurrent["ledger"]}
    assert statuses[files[0].name] == "superseded" and statuses[corrected.name] == "loaded"
    for row in concurrent["ledger"]:  # every delivered row accounted for
        assert row[6] == row[7] + row[8] + row[9], row


def test_a_file_taken_by_two_loads_at_once_is_loaded_once(demo_landing, fresh_db):
    path = sorted(demo_landing.glob("jsw_ylfn_*.csv"))[0]
    results = _load_all_at_once(_prepared(fresh_db), [path, path, path])
    assert Counter(r.status for r in results) == {loader.LoadStatus.LOADED: 1, loader.LoadStatus.UNCHANGED: 2}
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from ingest.file_ledger").fetchone()[0] == 1
        loaded = next(r for r in results if r.status is loader.LoadStatus.LOADED)
        table = landing.parse_name(path.name).source.raw_table
        assert conn.execute(f"select count(*) from {table}").fetchone()[0] == loaded.rows_loaded


def test_a_bad_file_taken_by_two_loads_at_once_is_rejected_once(fresh_db, tmp_path):
    path = tmp_path / "jsw_ylfn_20260131.csv"
    path.write_bytes("不是这个来源的表头,其他\n1,2\n".encode())
    results = _load_all_at_once(_prepared(fresh_db), [path, path])
    # each rejects it, or finds it rejected already (the same bytes are not read again)
    assert loader.LoadStatus.REJECTED in {r.status for r in results}
    assert {r.status for r in results} <= {loader.LoadStatus.REJECTED, loader.LoadStatus.UNCHANGED}
    assert len({r.file_id for r in results if r.status is loader.LoadStatus.REJECTED}) == 1
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from ingest.file_ledger").fetchone()[0] == 1
