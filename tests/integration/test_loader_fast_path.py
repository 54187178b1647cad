"""The loader's fast path (batches checked a column at a time, COPY text built by the loader)
gives exactly what checking and writing every row one by one gives."""

from __future__ import annotations

import uuid
from datetime import date

import psycopg
import pytest

from include import synthetic
from include.contract import idnumber, registry
from include.ingest import landing, loader, readers
from include.ingest.fastpath import CheckedBatch, FastPath
from include.ingest.pseudonym import Pseudonymizer
from include.warehouse import connection, schema

PSEUDONYMIZE = Pseudonymizer(b"test-key")


@pytest.fixture
def two_dbs(server_url):
    names = [f"fpwh_test_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    urls = [connection.with_database(server_url, n) for n in names]
    for url in urls:
        connection.ensure_database(url)
        with psycopg.connect(url) as conn:
            schema.apply(conn)
    yield urls
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        for n in names:
            conn.execute(f'drop database if exists "{n}" with (force)')


def _one_by_one(monkeypatch):
    """The loader without its fast path: every row validated and written on its own."""
    def nothing_vouched_for(self, rows):
        return CheckedBatch(set(range(len(rows))), [""] * len(rows), [""] * len(rows), [""] * len(rows))

    batches = readers.read_batches
    monkeypatch.setattr(FastPath, "check", nothing_vouched_for)
    monkeypatch.setattr(readers, "read_batches", lambda path, src, size=1: batches(path, src, 1))


def _everything(url: str) -> list:
    """The outcome of loading: ledger, quarantine, warnings and every raw table, in order."""
    queries = [
        "select file_name, status, reason, rows_read, rows_loaded, rows_quarantined, rows_duplicate, rows_warned "
        "from ingest.file_ledger order by file_name",
        "select l.file_name, q.row_number, q.record, q.reasons from ingest.quarantine q "
        "join ingest.file_ledger l using (file_id) order by 1, 2",
        "select l.file_name, w.row_number, w.row_key, w.column_name, w.warning from ingest.row_warnings w "
        "join ingest.file_ledger l using (file_id) order by 1, 2 nulls first, 3, 4, 5",
    ]
    with psycopg.connect(url) as conn:
        out = [conn.execute(q).fetchall() for q in queries]
        names = dict(conn.execute("select file_id, file_name from ingest.file_ledger"))
        for src in registry.SOURCES:
            rows = conn.execute(f"select * from {src.raw_table} order by _file_id, _row_number").fetchall()
            out.append([(names[r[0]], *r[1:]) for r in rows])
    return out


def test_a_landing_folder_with_every_kind_of_defect_loads_the_same_both_ways(tmp_path, two_dbs, monkeypatch):
    synthetic.generate(tmp_path, preset="demo", start=date(2026, 1, 1), months=2, seed=5, defect_rate=0.03)
    files = landing.scan(tmp_path).ready
    with psycopg.connect(two_dbs[0]) as conn:
        fast = [loader.load_file(conn, p, PSEUDONYMIZE).to_dict() for p in files]
    _one_by_one(monkeypatch)
    with psycopg.connect(two_dbs[1]) as conn:
        slow = [loader.load_file(conn, p, PSEUDONYMIZE).to_dict() for p in files]
    for result in fast + slow:
        result.pop("file_id")
    assert fast == slow
    assert sum(r["rows_quarantined"] for r in fast) > 100 and sum(r["rows_duplicate"] for r in fast) > 10
    assert _everything(two_dbs[0]) == _everything(two_dbs[1])


BIRTH_HEADER = ["出生医学证明编号", "新生儿性别", "出生日期", "出生孕周", "出生体重", "孩次",
                "母亲公民身份号码", "母亲姓名", "父亲公民身份号码", "母亲人口类型", "母亲现住址区划代码", "助产机构"]


def _births(tmp_path, hospitals: list[str]):
    import csv

    mother = idnumber.make("310112", date(1994, 5, 6), 124)
    path = tmp_path / "wsj_csyxzm_20260131.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(BIRTH_HEADER)
        for n, hospital in enumerate(hospitals, start=1):
            writer.writerow([f"A{n:09d}", "男", "2026-01-10", "39", "3300", "1", mother, "王芳", "", "户籍",
                             "310112101001", hospital])
    return path


def test_free_text_reaches_the_table_as_delivered(db, tmp_path):
    odd = ["tab\there", "back\\slash", "new\nline", "cr\rlf", "\\N", "plain 医院"]
    result = loader.load_file(db, _births(tmp_path, odd), PSEUDONYMIZE)
    assert result.rows_loaded == len(odd)
    assert [r[0] for r in db.execute("select delivery_hospital from raw.wsj_csyxzm order by _row_number")] == odd
