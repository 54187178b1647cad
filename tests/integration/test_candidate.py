"""The candidate schema's lock: a build holds it for its whole life; a candidate schema an
earlier build left (one killed mid-way among them) is dropped when the next build starts,
and only when no live build holds the lock; a publication never swaps in a schema that a
build is still writing."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from include.errors import CandidateBusy
from include.publish import hashes, publish
from include.transform import dbt
from include.warehouse import schema


def make_candidate(conn) -> None:
    conn.execute("create schema candidate")
    conn.execute("create table candidate.indicator_values as select 1 as half_built")
    conn.execute("create view candidate.a_view as select 1 as x")
    conn.commit()


def test_a_live_build_keeps_its_candidate_and_a_gone_one_leaves_it_to_be_dropped(db, fresh_db, caplog):
    make_candidate(db)
    with psycopg.connect(fresh_db, autocommit=True) as live_build:
        assert schema.claim_candidate(live_build)
        with pytest.raises(CandidateBusy, match="another build is writing the candidate schema"):
            with dbt.building_candidate(fresh_db):
                pytest.fail("a second build started beside a live one")
        assert hashes.schema_exists(db, "candidate"), "a live build's candidate was dropped"
        db.commit()
    # that build ended (its connection closed): what it left is stale
    with caplog.at_level(logging.WARNING, logger="include.transform.dbt"):
        with dbt.building_candidate(fresh_db):
            assert not hashes.schema_exists(db, "candidate")
            db.commit()
            with psycopg.connect(fresh_db, autocommit=True) as other:  # held while the build runs
                assert not schema.claim_candidate(other)
    assert "dropped the candidate schema an earlier build left (2 tables and views" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="include.transform.dbt"), dbt.building_candidate(fresh_db):
        pass  # nothing left: nothing said
    assert "dropped" not in caplog.text


def test_a_killed_builds_lock_is_released_by_the_server(db, fresh_db):
    make_candidate(db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, psycopg\n"
         "from include.warehouse import schema\n"
         "conn = psycopg.connect(sys.argv[1], autocommit=True)\n"
         "assert schema.claim_candidate(conn)\nprint('held', flush=True)\ntime.sleep(600)\n", fresh_db],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CandidateBusy):
            with dbt.building_candidate(fresh_db):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the server sees the connection end at once; allow it a moment
        try:
            with dbt.building_candidate(fresh_db):
                break
        except CandidateBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert not hashes.schema_exists(db, "candidate")


def test_a_candidate_still_being_built_is_not_published(db, fresh_db):
    make_candidate(db)
    with psycopg.connect(fresh_db, autocommit=True) as live_build:
        assert schema.claim_candidate(live_build)
        with pytest.raises(CandidateBusy, match="not published"):
            publish.publish(db)
    assert hashes.schema_exists(db, "candidate") and not hashes.schema_exists(db, "marts")
    assert db.execute("select count(*) from audit.publications").fetchone()[0] == 0
