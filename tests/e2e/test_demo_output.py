"""What `python -m include.cli demo` prints: a line per stage and per DAG task as it finished,
a few progress lines while the files load, the published figures, and last where the full
log is; the log holds everything else. A failing run prints its error in full and exits 1."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys

from tests.conftest import ROOT

STAMP = re.compile(r"^\[fpwh \d\d:\d\d:\d\d\] ")


def stage_lines(output: str) -> list[str]:
    return [STAMP.sub("", line) for line in output.splitlines() if STAMP.match(line)]


def test_the_demo_prints_a_line_per_stage_and_task_and_the_figures_last(demo_run):
    lines = demo_run.output.rstrip("\n").splitlines()
    assert len(lines) < 80, demo_run.output
    stages = stage_lines(demo_run.output)
    for dag_id in ("fp_ingest", "fp_transform"):
        for task_id in importlib.import_module(dag_id).dag.task_ids:
            mine = [s for s in stages if re.match(rf"{dag_id}\.{task_id}( ×\d+)?: ", s)]
            assert len(mine) == 1, (dag_id, task_id, stages)
            assert re.search(r"\(\d+(\.\d)? s\)$", mine[0]), mine[0]  # with its timing
        assert f"{dag_id}: success" in " ".join(stages)
    loads = next(s for s in stages if s.startswith("fp_ingest.load_file ×"))
    assert re.search(r"×\d+: \d+ loaded, \d+ rejected; [\d,]+ rows loaded, [\d,]+ quarantined", loads), loads
    assert 1 <= sum(s.startswith("loading files [") for s in stages) <= 3  # a line a quarter, not a line a file
    assert any(line.startswith("  rejected: ") for line in lines)  # each rejected file, with its reason
    # the figures after the last stage, and last of all where the log is
    done = max(i for i, line in enumerate(lines) if STAMP.match(line))
    assert stage_lines(lines[done])[0].startswith("done (")
    assert any(line.startswith("Published indicators, district 310112") for line in lines[done:])
    assert lines[-1] == f"full log: {demo_run.log.relative_to(ROOT)}"


def test_the_full_log_holds_what_the_terminal_was_spared(demo_run):
    log = demo_run.log.read_text(encoding="utf-8", errors="replace")
    assert demo_run.log.parent == ROOT / ".demo" / "logs"
    for detail in ("[DAG TEST] starting task_id=load_file",  # Airflow's task logs
                   "Done. Returned value was:",
                   "rows read",  # the loader's account of each file
                   "Deliveries per source",  # the whole summary
                   "fp_transform.publish: publication"):  # and the stage lines, in their place
        assert detail in log, detail
    assert "Airflow's metadata database: ready" in log
    assert len(log.splitlines()) > 10 * len(demo_run.output.splitlines())


def test_a_failing_demo_prints_the_task_and_its_error_in_full_and_exits_1(fresh_db, tmp_path):
    env = {k: v for k, v in os.environ.items() if "OPENLINEAGE" not in k}
    env |= {"WAREHOUSE_URL": fresh_db, "LANDING_DIR": str(tmp_path / "not-there"), "REPORTING_START": "2026-01-01",
            "OPENLINEAGE_DISABLED": "true"}
    done = subprocess.run([sys.executable, "-m", "include.cli", "demo"], env=env, capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    stages = stage_lines(output)
    assert any(s.startswith("fp_ingest.list_landed_files: FAILED (") for s in stages), output
    assert f"RuntimeError: LANDING_DIR {tmp_path / 'not-there'} is not a folder" in output
    assert "fp_ingest: failed" in " ".join(stages)
    assert "demo failed: DAG fp_ingest ended in state 'failed'" in output
    last = output.rstrip("\n").splitlines()[-1]
    assert last.startswith("full log: .demo/logs/demo-")
    assert "Traceback" in (ROOT / last.removeprefix("full log: ")).read_text(encoding="utf-8")  # Airflow's, in full
    assert len(output.splitlines()) < 30, output
