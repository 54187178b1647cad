"""The demo's terminal: one line per stage with its timing, a progress bar while the files
load, the summary last, and where the full log is. Everything else the run prints (Airflow's
task logs, dbt's and Great Expectations' output, the SMTP outbox, pgserver, `airflow db
migrate`, warnings, tracebacks) goes to a log file under .demo/logs/ (`quiet`).

Quiet mode moves the process's standard output and error (file descriptors 1 and 2) onto the
log file, so that whatever writes there, a library's print(), a logging handler made before
or after, a subprocess, lands in the log; the terminal is reached only through the copy of
the original descriptor this module keeps. Verbose mode (`loud`) leaves them alone: today's
full output on the terminal, no log file.

The DAGs' tasks are followed with an Airflow listener (`TaskReporter`): dag.test() runs each
task in this process, and the task runner calls the listeners when a task starts, succeeds or
fails; a succeeded task's return value (its XCom) gives the counts its line shows.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from include import config

LOG_FILES_KEPT = 20  # the newest demo logs kept in the log folder; older ones are removed
PROGRESS_WIDTH = 24  # characters of the progress bar
PROGRESS_STEPS = 4  # without a terminal: a progress line at each quarter (none at the end: the total follows)
LISTING_TASK = "list_landed_files"  # its return value lists the files the mapped loads take


# ---- pure formatting ------------------------------------------------------------------------


def stamp(clock: Callable[[], float] = time.time) -> str:
    return time.strftime("%H:%M:%S", time.localtime(clock()))


def stage_line(text: str, seconds: float | None = None, clock: Callable[[], float] = time.time) -> str:
    """`[fpwh 18:07:56] text (6.2 s)`: a stage and how long it took."""
    took = "" if seconds is None else f" ({seconds:.1f} s)" if seconds < 100 else f" ({seconds:.0f} s)"
    return f"[fpwh {stamp(clock)}] {text}{took}"


def progress_line(label: str, done: int, total: int, seconds: float, width: int = PROGRESS_WIDTH) -> str:
    """`loading files [##########..............] 31/78 (12 s)`."""
    filled = width if total <= 0 else min(width, done * width // total)
    return f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({seconds:.0f} s)"


def progress_marks(total: int, steps: int = PROGRESS_STEPS) -> set[int]:
    """The counts of finished files at which a progress line is printed without a terminal:
    one at each 1/steps of the way, none at the end (the loads' total line follows)."""
    return {math.ceil(total * k / steps) for k in range(1, steps)} - {0, total}


def count(n: int, what: str) -> str:
    return f"{n:,} {what}"


def loads_line(results: list[dict]) -> str:
    """The mapped loads in one line: files per status, rows loaded and quarantined."""
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.get("status", "?")] = statuses.get(r.get("status", "?"), 0) + 1
    files = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda s: (-s[1], s[0])))
    loaded = sum(r.get("rows_loaded") or 0 for r in results)
    quarantined = sum(r.get("rows_quarantined") or 0 for r in results)
    return f"{files or 'no file'}; {count(loaded, 'rows loaded')}, {count(quarantined, 'quarantined')}"


def rejected_lines(results: list[dict]) -> list[str]:
    """A line per rejected file: its reason names the file and what is wrong with it."""
    return [f"  rejected: {r.get('reason') or r.get('file_name')}" for r in results if r.get("status") == "rejected"]


def task_detail(task_id: str, result: object, extra: object = None) -> str:
    """What a task's return value tells, in a few words ('' when nothing worth a line)."""
    r = result if isinstance(result, dict) else {}
    if task_id == LISTING_TASK and isinstance(result, list):
        not_read = extra if isinstance(extra, list) else []
        later = [x.get("status") for x in not_read if isinstance(x, dict)]
        held = ", ".join(f"{later.count(s)} {s}" for s in sorted(set(later)))
        return f"{count(len(result), 'new files to load')}" + (f" ({held})" if held else "")
    if task_id == "summarize_loads" and "files" in r:
        tables = r.get("raw_tables_updated") or []
        return f"{len(tables)} raw tables received a delivery" if tables else "no raw table received a delivery"
    if task_id == "build_candidate_marts" and "nodes" in r:
        return f"dbt built and tested {count(r['nodes'], 'nodes')} into the candidate schema"
    if task_id == "quality_gate" and "evaluated" in r:
        warned = [w.get("check", "?") for w in r.get("warned") or []]
        text = f"{r['evaluated']} checks, {len(r.get('failed') or [])} failed, {len(warned)} warned"
        return text + (f" ({', '.join(sorted(set(warned)))})" if warned else "")
    if task_id == "publish" and "publication_id" in r:
        rows = sum((r.get("row_counts") or {}).values())
        return f"publication {r['publication_id']}: {len(r.get('row_counts') or {})} marts, {count(rows, 'rows')}"
    if task_id == "send_alerts" and "alerts" in r:
        return (f"{r['alerts']} alerts: {r.get('sent', 0)} sent, {r.get('suppressed', 0)} suppressed, "
                f"{r.get('failed', 0)} failed ({r.get('emails', 0)} emails, {r.get('webhooks', 0)} webhook posts)")
    return ""


def first_section(text: str) -> tuple[str, bool]:
    """The summary's first section (up to its first blank line), and whether more followed."""
    head, _, rest = text.strip("\n").partition("\n\n")
    return head, bool(rest.strip())


def log_file_name(now: datetime, pid: int) -> str:
    return f"demo-{now:%Y%m%d-%H%M%S}-{pid}.log"


def shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(config.PROJECT_ROOT))
    except ValueError:
        return str(path)


# ---- the terminal ----------------------------------------------------------------------------


class Console:
    """Writes to the terminal; in quiet mode the same lines go to the log too (`mirror`)."""

    def __init__(self, terminal: TextIO, mirror: TextIO | None = None, log_path: Path | None = None,
                 tty: bool = False, progress: bool = True):
        self.terminal = terminal
        self.mirror = mirror
        self.log_path = log_path
        self.tty = tty
        self.show_progress = progress
        self.lines = 0  # lines printed on the terminal
        self._bar = 0  # length of a progress bar standing on the terminal's last line (a TTY)

    def _write(self, text: str, log: bool = True) -> None:
        self._clear_bar()
        self.terminal.write(text + "\n")
        self.terminal.flush()
        self.lines += text.count("\n") + 1
        if log and self.mirror is not None:
            self.mirror.write(text + "\n")
            self.mirror.flush()

    def _clear_bar(self) -> None:
        if self._bar:
            self.terminal.write("\r" + " " * self._bar + "\r")
            self._bar = 0

    def say(self, text: str, seconds: float | None = None) -> None:
        """A stage line."""
        self._write(stage_line(text, seconds))

    def text(self, text: str) -> None:
        """Lines as they are (the summary, an error in full)."""
        self._write(text)

    def log(self, text: str) -> None:
        """To the log only (quiet mode); dropped in verbose mode, where nothing is kept."""
        if self.mirror is not None and text:
            self.mirror.write(text if text.endswith("\n") else text + "\n")
            self.mirror.flush()

    def progress(self, label: str, done: int, total: int, seconds: float) -> None:
        """A progress bar: redrawn in place on a terminal, a line at each quarter elsewhere."""
        if not self.show_progress or total <= 0:
            return
        line = stage_line(progress_line(label, done, total, seconds))
        if self.tty:
            self.terminal.write("\r" + line.ljust(self._bar))
            self.terminal.flush()
            self._bar = len(line)
        elif done in progress_marks(total):
            self._write(line, log=False)

    def close(self) -> None:
        self._clear_bar()
        self.terminal.flush()
        if self.mirror is not None:
            self.mirror.flush()


def _prune(folder: Path, keep: int) -> None:
    logs = sorted(folder.glob("demo-*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in logs[keep:]:
        old.unlink(missing_ok=True)


def quiet(log_dir: Path = config.DEMO_LOG_DIR) -> Console:
    """Standard output and error (fd 1 and 2, so subprocesses' too) onto a new log file in
    `log_dir` for the rest of this process's life; the returned Console writes on the original
    standard output (the terminal, a pipe) and copies its lines into the log."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / log_file_name(datetime.now(), os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", errors="replace", buffering=1)
    with path.open("a", encoding="utf-8") as log:
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())
    # line by line, so that the log keeps the order of prints, log records and stage lines
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    _prune(log_dir, LOG_FILES_KEPT)
    return Console(terminal, mirror=sys.stdout, log_path=path, tty=terminal.isatty())


def loud() -> Console:
    """Verbose: everything on the terminal as it comes, no log file, no progress bar."""
    return Console(sys.stdout, progress=False)


# ---- following the DAGs' tasks -----------------------------------------------------------------


@dataclass
class _Mapped:
    """The instances of one mapped task, reported as one line when the last has finished."""

    task_id: str
    started: float
    results: list[dict] = field(default_factory=list)
    finished: int = 0
    failed: int = 0


class TaskReporter:
    """An Airflow listener: a line per task as it finishes (mapped instances together, with a
    progress bar), a failed task's error in full. Register it once with
    airflow.sdk.listener.get_listener_manager().add_listener; `begin(dag_id)` before each
    dag.test(), `end(dag_run)` after it."""

    def __init__(self, console: Console):
        self.console = console
        self.dag_id = ""
        self.started: dict[tuple[str, int], float] = {}
        self.reported: set[tuple[str, int]] = set()
        self.expected = 0  # files the listing task gave the mapped loads
        self.mapped: _Mapped | None = None
        self.dag_started = 0.0

    def begin(self, dag_id: str) -> None:
        self.dag_id = dag_id
        self.started.clear()
        self.reported.clear()
        self.expected = 0
        self.mapped = None
        self.dag_started = time.monotonic()

    # -- the listener's hooks (Airflow calls them by these names and keyword arguments) --

    def on_task_instance_running(self, previous_state, task_instance) -> None:
        if task_instance.map_index < 0:
            self._flush_mapped()
        self.started[(task_instance.task_id, task_instance.map_index)] = time.monotonic()

    def on_task_instance_success(self, previous_state, task_instance) -> None:
        self._finished(task_instance, "done")

    def on_task_instance_skipped(self, previous_state, task_instance) -> None:
        self._finished(task_instance, "skipped")

    def on_task_instance_failed(self, previous_state, task_instance, error) -> None:
        self._finished(task_instance, "FAILED", error)

    # -- the lines --

    def _finished(self, ti, state: str, error: object = None) -> None:
        key = (ti.task_id, ti.map_index)
        self.reported.add(key)
        seconds = time.monotonic() - self.started.get(key, time.monotonic())
        result = _xcom(ti) if state == "done" else None
        if ti.map_index >= 0:
            self._mapped_finished(ti, result, state, error, seconds)
            return
        extra = _xcom(ti, key="not_read") if ti.task_id == LISTING_TASK and state == "done" else None
        if ti.task_id == LISTING_TASK and isinstance(result, list):
            self.expected = len(result)
        detail = task_detail(ti.task_id, result, extra) if state == "done" else ""
        words = state if not detail else (detail if state == "done" else f"{state}: {detail}")
        self.console.say(f"{self.dag_id}.{ti.task_id}: {words}", seconds)
        if error is not None:
            self.console.text(error_text(error))

    def _mapped_finished(self, ti, result, state: str, error: object, seconds: float) -> None:
        if self.mapped is None or self.mapped.task_id != ti.task_id:
            self._flush_mapped()
            first = self.started.get((ti.task_id, ti.map_index), time.monotonic() - seconds)
            self.mapped = _Mapped(ti.task_id, first)
        mapped = self.mapped
        mapped.finished += 1
        if isinstance(result, dict):
            mapped.results.append(result)
        if state == "FAILED":
            mapped.failed += 1
            self.console.say(f"{self.dag_id}.{ti.task_id}[{ti.map_index}]: FAILED", seconds)
            self.console.text(error_text(error))
        total = max(self.expected, mapped.finished)
        self.console.progress("loading files", mapped.finished, total, time.monotonic() - mapped.started)
        if mapped.finished >= self.expected:
            self._flush_mapped()

    def _flush_mapped(self) -> None:
        mapped, self.mapped = self.mapped, None
        if mapped is None:
            return
        failed = f", {mapped.failed} FAILED" if mapped.failed else ""
        self.console.say(f"{self.dag_id}.{mapped.task_id} ×{mapped.finished}: {loads_line(mapped.results)}{failed}",
                         time.monotonic() - mapped.started)
        for line in rejected_lines(mapped.results):
            self.console.text(line)

    def end(self, dag_run) -> None:
        """After dag.test(): the tasks that never ran (upstream failed), then the run's state."""
        self._flush_mapped()
        state = str(getattr(getattr(dag_run, "state", None), "value", getattr(dag_run, "state", "no run")))
        not_run: dict[str, str] = {}
        try:
            for ti in dag_run.get_task_instances():
                ti_state = str(getattr(ti.state, "value", ti.state) or "no state")
                if (ti.task_id, ti.map_index) not in self.reported and ti_state != "success":
                    not_run.setdefault(ti.task_id, ti_state)
        except Exception:  # a line less, never a failed demo
            pass
        for task_id, ti_state in sorted(not_run.items()):
            self.console.say(f"{self.dag_id}.{task_id}: {ti_state.replace('_', ' ')}, not run")
        self.console.say(f"{self.dag_id}: {state}", time.monotonic() - self.dag_started)


def _xcom(ti, key: str = "return_value"):
    """What the finished task `ti` pushed (its return value by default); None if unreadable."""
    try:
        return ti.xcom_pull(task_ids=ti.task_id, key=key, map_indexes=ti.map_index)
    except Exception:  # a detail less on the line, never a failed task
        return None


def error_text(error: object) -> str:
    """The exception's type and message in full, and where it was raised (the traceback is in the log)."""
    if not isinstance(error, BaseException):
        return str(error)
    text = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ is not None else []
    if frames:
        text += f"\n  raised at {shown_path(Path(frames[-1].filename))}:{frames[-1].lineno}, in {frames[-1].name}"
    return text


def listen(reporter: TaskReporter) -> None:
    """Register `reporter` with the listener manager of the task runner dag.test() uses."""
    from airflow.listeners import hookimpl
    from airflow.sdk.listener import get_listener_manager

    for name in ("on_task_instance_running", "on_task_instance_success", "on_task_instance_skipped",
                 "on_task_instance_failed"):
        hookimpl(getattr(type(reporter), name))
    get_listener_manager().add_listener(reporter)
