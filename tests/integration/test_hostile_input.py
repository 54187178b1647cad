"""The corpus of malformed deliveries (tests/corpus.py), each in a landing folder beside two
valid files: every entry ends loaded (bad rows quarantined), rejected with its reason, or
ignored with its reason, never a crash; the counts reconcile to the row; and no planted ID
number or name reaches the ledger, the reasons, the warnings, the raw tables or the log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from include.contract import registry
from include.ingest import landing, loader
from include.ingest.loader import LoadResult, LoadStatus
from tests.corpus import CASES, IGNORED, LOADED, REJECTED, SECRETS, VALID_FILES, Case, valid_landing
from tests.extracts import PSEUDONYMIZE

ROOT = Path(__file__).resolve().parents[2]

# Loads one file without root's power to read any file (tests run as root, which reads a file of
# mode 000 all the same): setpriv drops the capabilities that override file permissions.
_WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                     "--inh-caps=-dac_override,-dac_read_search"]
_LOAD_ONE = """
import json, sys
from pathlib import Path
import psycopg
from include.ingest import loader
from tests.extracts import PSEUDONYMIZE
with psycopg.connect(sys.argv[1]) as conn:
    print(json.dumps(loader.load_file(conn, Path(sys.argv[2]), PSEUDONYMIZE).to_dict()))
"""


def _load_without_root_powers(url: str, path: Path) -> LoadResult:
    done = subprocess.run([*_WITHOUT_OVERRIDE, sys.executable, "-c", _LOAD_ONE, url, str(path)], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return LoadResult.from_dict(json.loads(done.stdout.splitlines()[-1]))


def _texts_written(db, file_ids: list[int]) -> str:
    """Everything the load wrote that is not the quarantined record itself or a pseudonym."""
    parts = [str(row) for row in db.execute(
        "select file_name, reason from ingest.file_ledger where file_id = any(%s)", (file_ids,))]
    parts += [str(row) for row in db.execute(
        "select reasons from ingest.quarantine where file_id = any(%s)", (file_ids,))]
    parts += [str(row) for row in db.execute("select * from ingest.row_warnings where file_id = any(%s)", (file_ids,))]
    for src in registry.SOURCES:
        parts += [str(row) for row in db.execute(f"select * from {src.raw_table} where _file_id = any(%s)",
                                                 (file_ids,))]
    return "\n".join(parts)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_malformed_delivery_is_loaded_rejected_or_ignored_never_a_crash(db, fresh_db, tmp_path, caplog, case: Case):
    caplog.set_level(logging.INFO)
    landing_folder = tmp_path / "landing"
    landing_folder.mkdir()
    valid_landing(landing_folder)
    case.write(landing_folder)
    found = landing.scan(landing_folder)
    results: dict[str, LoadResult] = {}
    for path in found.ready:
        as_root = case.needs_non_root and os.geteuid() == 0 and path.name not in VALID_FILES
        results[path.name] = (_load_without_root_powers(fresh_db, path) if as_root
                              else loader.load_file(db, path, PSEUDONYMIZE))

    # every entry of the folder is accounted for
    ignored = {p.name for p, _ in found.ignored}
    entries = set(os.listdir(landing_folder))
    assert entries == set(results) | ignored and not found.waiting
    (defective,) = entries - set(VALID_FILES)
    for name in VALID_FILES:
        assert (results[name].status, results[name].rows_loaded) == (LoadStatus.LOADED, 1)
    if case.outcome == IGNORED:
        assert defective in ignored
    else:
        result = results[defective]
        assert result.status.value == case.outcome, result
        if case.outcome == REJECTED:
            assert case.says in (result.reason or ""), result.reason
        assert result.file_name == landing.shown_name(defective)

    # the counts reconcile to the row, for every file
    for result in results.values():
        if result.status is not LoadStatus.LOADED:
            continue
        assert result.rows_read == result.rows_loaded + result.rows_quarantined + result.rows_duplicate
        src = registry.source(result.source_code)
        in_raw = db.execute(f"select count(*) from {src.raw_table} where _file_id = %s", (result.file_id,)).fetchone()
        in_quarantine = db.execute("select count(*) from ingest.quarantine where file_id = %s",
                                   (result.file_id,)).fetchone()
        assert (in_raw[0], in_quarantine[0]) == (result.rows_loaded, result.rows_quarantined)
    if case.outcome == LOADED:
        result = results[defective]
        assert (result.rows_quarantined, result.rows_warned) == (case.quarantined, case.warned), result
        for (why,) in db.execute("select reasons from ingest.quarantine where file_id = %s", (result.file_id,)):
            assert any(case.says in reason for reason in why), why

    # nothing planted escapes: not the ledger, reasons, warnings, raw tables, results or the log
    file_ids = [r.file_id for r in results.values() if r.file_id is not None]
    written = _texts_written(db, file_ids) + "\n" + caplog.text + "\n" + str([r.to_dict() for r in results.values()])
    for secret in SECRETS:
        assert secret not in written, f"{case.name}: a planted secret escaped"


def test_the_corpus_covers_each_way_of_ending():
    outcomes = {c.outcome for c in CASES}
    assert outcomes == {LOADED, REJECTED, IGNORED} and len(CASES) >= 30


def test_a_workbook_that_takes_its_reader_down_is_rejected_and_the_load_goes_on(db, tmp_path, monkeypatch):
    """A workbook under the cell limit can still need more memory than its reader has (here a
    grid of 10 million cells against 128 MB): it takes down the child process that reads it,
    not the load, and the file is rejected; the next file loads."""
    from include import config
    from tests.corpus import EXAM, workbook_declaring

    heavy = tmp_path / f"{EXAM.code}_20260331.xlsx"
    heavy.write_bytes(workbook_declaring("A1:J1000000", far_cell="J1000000"))
    monkeypatch.setattr(config, "XLSX_READER_MEMORY_BYTES", 128 << 20)
    result = loader.load_file(db, heavy, PSEUDONYMIZE)
    assert result.status is LoadStatus.REJECTED, result
    assert "not a readable Excel workbook" in result.reason
    valid_landing(tmp_path)
    assert loader.load_file(db, tmp_path / VALID_FILES[0], PSEUDONYMIZE).status is LoadStatus.LOADED


def test_the_ingest_tasks_account_for_every_entry_and_pass_no_delivered_name(db, fresh_db, tmp_path, monkeypatch):
    """What the ingest tasks hand to Airflow (the files to load, the entries not read, the loads'
    results and the summary) names every folder entry by its shown name, and accounts for all."""
    from include import config, tasks
    from tests.corpus import PII_FILE_NAME, SECRET_ID

    folder = tmp_path / "landing"
    folder.mkdir()
    valid_landing(folder)
    (folder / PII_FILE_NAME).write_bytes((folder / VALID_FILES[0]).read_bytes())
    (folder / f".{SECRET_ID}.csv").write_text("hidden")
    (folder / "a folder").mkdir()
    monkeypatch.setenv(config.LANDING_DIR_ENV, str(folder))
    monkeypatch.setenv(config.WAREHOUSE_URL_ENV, fresh_db)
    monkeypatch.setenv(config.PSEUDONYM_KEY_ENV, "test-key")

    listing = tasks.list_landed_files()
    results = [tasks.load_landed_file(landed) for landed in listing["to_load"]]
    summary = tasks.summarize_loads(results, listing["not_read"])
    assert summary["files"] == {"loaded": 2, "rejected": 1, "ignored": 2}
    assert {r["file_name"] for r in results} == {*VALID_FILES, landing.shown_name(PII_FILE_NAME)}
    handed_over = json.dumps([listing, results, summary], ensure_ascii=False)
    assert SECRET_ID not in handed_over and PII_FILE_NAME.split("_")[0] not in handed_over
