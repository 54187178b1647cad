"""The demo's terminal (include/demo/console.py): its stage and progress lines, the one-line
accounts of the tasks' results, and the listener that follows the DAGs' tasks, driven here by
hand as the task runner calls it."""

from __future__ import annotations

import io
from types import SimpleNamespace

from include.demo import console


def test_a_stage_line_has_the_time_and_how_long_it_took():
    noon = 1_767_240_000.0  # any instant: the clock part is local time
    line = console.stage_line("warehouse: embedded PostgreSQL", 1.234, clock=lambda: noon)
    assert line.startswith("[fpwh ") and line[14] == "]"
    assert line.endswith("] warehouse: embedded PostgreSQL (1.2 s)")
    assert console.stage_line("x", 182.4).endswith(" x (182 s)")
    assert console.stage_line("x").endswith("] x")


def test_the_progress_bar():
    assert console.progress_line("loading files", 0, 78, 0.2, width=10) == "loading files [..........] 0/78 (0 s)"
    assert console.progress_line("loading files", 39, 78, 12.4, width=10) == "loading files [#####.....] 39/78 (12 s)"
    assert console.progress_line("loading files", 78, 78, 44, width=10) == "loading files [##########] 78/78 (44 s)"


def test_without_a_terminal_progress_is_a_line_a_quarter_and_none_at_the_end():
    assert console.progress_marks(78) == {20, 39, 59}
    assert console.progress_marks(4) == {1, 2, 3}
    assert console.progress_marks(2) == {1}
    assert console.progress_marks(1) == set()
    assert console.progress_marks(0) == set()


LOADED = {"file_name": "a.csv", "status": "loaded", "rows_loaded": 1000, "rows_quarantined": 3}
REJECTED = {"file_name": "b.csv", "status": "rejected", "rows_loaded": 0, "rows_quarantined": 0,
            "reason": "b.csv lacks required header(s) 出生日期"}


def test_the_loads_in_one_line_and_a_line_per_rejected_file():
    results = [LOADED, LOADED | {"rows_loaded": 234, "rows_quarantined": 0}, REJECTED]
    assert console.loads_line(results) == "2 loaded, 1 rejected; 1,234 rows loaded, 3 quarantined"
    assert console.rejected_lines(results) == ["  rejected: b.csv lacks required header(s) 出生日期"]
    assert console.loads_line([]) == "no file; 0 rows loaded, 0 quarantined"


def test_each_task_result_in_a_few_words():
    assert console.task_detail("list_landed_files", [{}, {}], [{"status": "deferred"}]) == \
        "2 new files to load (1 deferred)"
    assert console.task_detail("summarize_loads", {"files": {"loaded": 2}, "raw_tables_updated": ["a", "b"]}) == \
        "2 raw tables received a delivery"
    assert console.task_detail("summarize_loads", {"files": {}, "raw_tables_updated": []}) == \
        "no raw table received a delivery"
    assert console.task_detail("quality_gate", {"evaluated": 50, "failed": [], "warned": [{"check": "late_days"}]}) \
        == "50 checks, 0 failed, 1 warned (late_days)"
    assert console.task_detail("publish", {"publication_id": 3, "row_counts": {"a": 10, "b": 5}}) == \
        "publication 3: 2 marts, 15 rows"
    assert console.task_detail("a_task_added_later", {"anything": 1}) == ""
    assert console.task_detail("report", "Published indicators...") == ""


def test_the_summary_shown_is_its_first_section():
    assert console.first_section("\nFigures:\n  a 1\n\nDeliveries:\n  x\n") == ("Figures:\n  a 1", True)
    assert console.first_section("Figures:\n  a 1\n") == ("Figures:\n  a 1", False)


def test_the_log_file_name_sorts_by_time_and_names_the_process():
    from datetime import datetime

    assert console.log_file_name(datetime(2026, 1, 2, 3, 4, 5), 42) == "demo-20260102-030405-42.log"


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def ti(task_id: str, map_index: int = -1, value=None, not_read=None):
    def xcom_pull(task_ids, key="return_value", map_indexes=None):
        return not_read if key == "not_read" else value
    return SimpleNamespace(task_id=task_id, map_index=map_index, xcom_pull=xcom_pull)


def run_ingest(reporter: console.TaskReporter, files: int) -> None:
    reporter.begin("fp_ingest")
    for task in [ti("prepare_warehouse"), ti("list_landed_files", value=[{}] * files, not_read=[])]:
        reporter.on_task_instance_running(None, task)
        reporter.on_task_instance_success(None, task)
    for i in range(files):
        load = ti("load_file", i, value=REJECTED if i == 0 else LOADED)
        reporter.on_task_instance_running(None, load)
        reporter.on_task_instance_success(None, load)
    summary = ti("summarize_loads", value={"files": {}, "raw_tables_updated": ["a"]})
    reporter.on_task_instance_running(None, summary)
    reporter.on_task_instance_success(None, summary)
    reporter.end(SimpleNamespace(state="success", get_task_instances=lambda: []))


def test_a_line_per_task_the_mapped_loads_in_one_and_a_few_progress_lines_without_a_terminal():
    terminal, log = FakeTerminal(tty=False), io.StringIO()
    run_ingest(console.TaskReporter(console.Console(terminal, mirror=log)), files=8)
    lines = [line.split("] ", 1)[-1] for line in terminal.getvalue().splitlines()]
    assert lines[0].startswith("fp_ingest.prepare_warehouse: done (")
    assert lines[1].startswith("fp_ingest.list_landed_files: 8 new files to load (")
    assert [line.split(" [")[0] for line in lines[2:5]] == ["loading files"] * 3  # at 2, 4 and 6 of 8
    assert lines[5].startswith("fp_ingest.load_file ×8: 7 loaded, 1 rejected; 7,000 rows loaded, 21 quarantined (")
    assert lines[6] == "  rejected: b.csv lacks required header(s) 出生日期"
    assert lines[7].startswith("fp_ingest.summarize_loads: 1 raw tables received a delivery (")
    assert lines[8].startswith("fp_ingest: success (")
    assert len(lines) == 9
    assert "loading files" not in log.getvalue() and "fp_ingest: success" in log.getvalue()


def test_on_a_terminal_the_progress_bar_is_redrawn_in_place():
    terminal = FakeTerminal(tty=True)
    out = console.Console(terminal, tty=True)
    run_ingest(console.TaskReporter(out), files=8)
    text = terminal.getvalue()
    assert text.count("loading files") == 8  # redrawn for each file, after a carriage return
    assert text.count("\r[fpwh") >= 8
    assert len([line for line in text.split("\n") if line]) == 6  # the bar never took a line of its own
    assert out.lines == 6


def test_a_failed_task_prints_its_error_in_full_and_the_tasks_that_never_ran():
    terminal = FakeTerminal(tty=False)
    reporter = console.TaskReporter(console.Console(terminal))
    reporter.begin("fp_transform")
    gate = ti("quality_gate")
    reporter.on_task_instance_running(None, gate)
    error = RuntimeError("check fertility_rate_range on candidate.indicator_values: 3 rows outside [0, 100]")
    reporter.on_task_instance_failed(None, gate, error)
    never = [SimpleNamespace(task_id="publish", map_index=-1, state="upstream_failed"),
             SimpleNamespace(task_id="quality_gate", map_index=-1, state="failed")]
    reporter.end(SimpleNamespace(state="failed", get_task_instances=lambda: never))
    lines = [line.split("] ", 1)[-1] for line in terminal.getvalue().splitlines()]
    assert lines[0].startswith("fp_transform.quality_gate: FAILED (")
    assert lines[1] == "RuntimeError: check fertility_rate_range on candidate.indicator_values: 3 rows outside [0, 100]"
    assert lines[2] == "fp_transform.publish: upstream failed, not run"
    assert lines[3].startswith("fp_transform: failed (")


def test_an_error_says_where_it_was_raised():
    def landing_dir():
        raise RuntimeError("LANDING_DIR /x is not a folder")

    try:
        landing_dir()
    except RuntimeError as error:
        text = console.error_text(error)
    first, where = text.splitlines()
    assert first == "RuntimeError: LANDING_DIR /x is not a folder"
    assert where.startswith("  raised at tests/unit/test_demo_console.py:") and where.endswith(", in landing_dir")
