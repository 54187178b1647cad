"""What a killed demo leaves in Airflow's metadata, found and closed by the next demo.

The demo runs its DAGs with dag.test() in its own process. Killed (kill -9, a power cut),
it leaves its DAG run "running" and the run's task instances "running" or "scheduled" in
the SQLite metadata forever: no scheduler watches a dag.test() run.

Who is alive is known from a lock: every demo holds an exclusive lock (flock) on
DEMO_LOCK_FILE in Airflow's home for as long as it lives, and the kernel releases it when
the process ends, however it ends. A demo that gets the lock knows that no other demo runs
on this Airflow home, so a run of the project's DAGs still running or queued there belongs
to a demo that is gone: `fail_dead_runs` marks it and its unfinished task instances failed.
A demo that does not get the lock stops at once and touches nothing (`hold_demo_lock`).

Under the real scheduler (the deployment, the stack test) Airflow 3.3 closes such runs
itself, and nothing here is used: a running task instance whose process stops heart-beating
is failed after [scheduler] task_instance_heartbeat_timeout (300 s), and its run with it
(retries are 0); a scheduler that died (no heartbeat for [scheduler]
scheduler_health_check_threshold, 30 s) has its queued and running task instances reset by
the next scheduler's adopt_or_reset_orphaned_tasks (at start, then every
orphaned_tasks_check_interval, 300 s), and they run again: a load or a publication killed
mid-way left nothing of itself, so running it again is safe. (In 3.3.2 a task instance
killed before its first heartbeat is missed by the heartbeat check: apache/airflow#66773.)
"""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from include import config


class DemoAlreadyRunning(SystemExit):
    """Another demo holds the lock of this Airflow home."""


def hold_demo_lock(home: Path) -> IO[str]:
    """Take the demo's lock in Airflow's home `home`, for this process's life: keep the returned
    file open (closing it, or the process ending, releases the lock). Raises DemoAlreadyRunning
    when another live demo holds it."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / config.DEMO_LOCK_FILE
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise DemoAlreadyRunning(f"another demo (PID {holder}) is running on the Airflow home {home} "
                                 f"(it holds {path.name}): let it end, or stop it, first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def fail_dead_runs(dag_ids: Iterable[str], say: Callable[[str], None]) -> list[str]:
    """Mark failed every dag.test() run of `dag_ids` still running or queued, and its unfinished
    task instances: call it holding the demo's lock, when no live process can own such a run.
    Runs a scheduler made (were the metadata database a deployment's) are not touched. Says
    one line per run; returns their run ids."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    closed = []
    with create_session() as session:
        runs = session.scalars(select(DagRun).where(
            DagRun.dag_id.in_(list(dag_ids)), DagRun.state.in_([DagRunState.RUNNING, DagRunState.QUEUED]),
            DagRun.triggered_by == DagRunTriggeredByType.TEST)
            .order_by(DagRun.id)).all()
        for run in runs:
            unfinished = session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id,
                TaskInstance.state.in_([s for s in State.unfinished if s is not None])
                | TaskInstance.state.is_(None))).all()
            states = Counter(str(getattr(ti.state, "value", ti.state) or "no state") for ti in unfinished)
            for ti in unfinished:
                ti.set_state(TaskInstanceState.FAILED, session=session)
            was = getattr(run.state, "value", run.state)
            run.set_state(DagRunState.FAILED)
            session.merge(run)
            session.flush()
            counted = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none unfinished"
            say(f"Airflow run {run.dag_id} {run.run_id} was left {was} by a demo that is gone: marked failed, "
                f"with its {len(unfinished)} unfinished task instances ({counted})")
            closed.append(run.run_id)
    return closed
