"""The parts of the stack test that are not the pipeline: free ports, the four Airflow
services as native subprocesses (each in its own session, its own log file, stopped by its
PID and process group), a local webhook receiver that keeps every POST, a small client of
Airflow's REST API (/api/v2) and waits that say what they waited for.

No Airflow import here: the services are separate processes, reached over HTTP only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests import robot

# ---- ports and waits -------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WaitTimeout(AssertionError):
    """A wait ran out of time; the message names what was awaited and the last state seen."""


def wait_for(what: str, probe: Callable[[], tuple[bool, Any]], timeout: float, interval: float = 2.0) -> Any:
    """Call `probe` until it returns (True, value); returns the value. `probe` returns
    (False, state) meanwhile; on timeout the last state is in the error."""
    started = time.monotonic()
    last: Any = "never probed"
    while True:
        try:
            done, last = probe()
        except (httpx.HTTPError, OSError) as exc:  # a service still starting, a connection refused
            done, last = False, f"{type(exc).__name__}: {exc}"
        if done:
            return last
        if time.monotonic() - started > timeout:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}; last state seen: {last}")
        time.sleep(interval)


# ---- the Airflow services ---------------------------------------------------------------------


@dataclass
class Service:
    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, env: Mapping[str, str], cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(self.argv, env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started_at = time.monotonic()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _family(pid: int) -> list[psutil.Process]:
    """A process and every descendant of it alive now."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)  # started with start_new_session=True: its PID is its group's id


@dataclass
class StopReport:
    pids: dict[str, int] = field(default_factory=dict)  # service -> its PID
    descendants: int = 0  # processes below the four services when the stop began
    killed: list[str] = field(default_factory=list)  # services that needed SIGKILL
    alive: list[int] = field(default_factory=list)  # PIDs still alive afterwards (should be none)
    seconds: float = 0.0


def stop_services(services: list[Service], timeout: float = 45.0) -> StopReport:
    """SIGTERM to every service and its process group, SIGKILL to what is left after
    `timeout`; then check that none of the PIDs (services and the children they had) lives."""
    report = StopReport()
    started = time.monotonic()
    running = [s for s in services if s.process is not None]
    family: dict[int, psutil.Process] = {}
    for service in running:
        report.pids[service.name] = service.pid
        for proc in _family(service.pid):
            family[proc.pid] = proc
    report.descendants = len(family) - len(running)
    for service in running:
        if service.exited() is None:
            service.process.send_signal(signal.SIGTERM)
        _signal_group(service.pid, signal.SIGTERM)
    deadline = started + timeout
    for service in running:
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            report.killed.append(service.name)
            service.process.kill()
            service.process.wait(timeout=10)
        _signal_group(service.pid, signal.SIGKILL)  # whatever of its group outlived it
    _, left = psutil.wait_procs(list(family.values()), timeout=5)
    for proc in left:  # children that left the group (own session): by their PID
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(left, timeout=5)
    report.alive = sorted(pid for pid, proc in family.items() if _alive(proc))
    report.seconds = time.monotonic() - started
    return report


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# ---- the webhook receiver -----------------------------------------------------------------------


class WebhookReceiver:
    """The chat robot's stand-in (tests/robot.py), at a /robot URL."""

    def __init__(self) -> None:
        self._server = robot.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/robot"

    @property
    def posts(self) -> list[tuple]:
        return list(self._server.posts)

    def stop(self) -> None:
        robot.stop(self._server)


# ---- Airflow's REST API -------------------------------------------------------------------------


class Api:
    """Airflow 3's public REST API with a token from the simple auth manager (POST /auth/token)."""

    PAGE = 100  # [api] maximum_page_limit's default

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=30)

    def login(self, username: str, password: str) -> None:
        reply = self._client.post("/auth/token", json={"username": username, "password": password})
        reply.raise_for_status()
        self._client.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs) -> Any:
        reply = self._client.request(method, f"/api/v2{path}", **kwargs)
        if reply.status_code >= 400:
            raise ApiError(f"{method} /api/v2{path} -> {reply.status_code}: {reply.text[:500]}")
        return reply.json() if reply.content else None

    def get(self, path: str, **params) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict) -> Any:
        return self._call("POST", path, json=body)

    def patch(self, path: str, body: dict) -> Any:
        return self._call("PATCH", path, json=body)

    def all(self, path: str, key: str, **params) -> list[dict]:
        """Every item of a paged collection."""
        items: list[dict] = []
        while True:
            page = self.get(path, limit=self.PAGE, offset=len(items), **params)
            items.extend(page[key])
            if not page[key] or len(items) >= (page.get("total_entries") or 0):
                return items

    def health(self) -> dict:
        reply = self._client.get("/api/v2/monitor/health")
        reply.raise_for_status()
        return reply.json()

    def runs(self, dag_id: str) -> list[dict]:
        return self.all(f"/dags/{dag_id}/dagRuns", "dag_runs", order_by="run_after")

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.get(f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str, **params) -> list[dict]:
        return self.all(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances", **params)

    def close(self) -> None:
        self._client.close()


class ApiError(RuntimeError):
    pass
