"""The stack test (`make stack-test`): the pipeline run the way a district runs it.

Airflow 3's api-server, scheduler, dag-processor and triggerer started natively on
LocalExecutor with a fresh PostgreSQL metadata database, a fresh warehouse database, a local
SMTP sink and a local webhook receiver; the DAGs unpaused; a synthetic landing folder
delivered in two instalments, then a day with nothing new. Everything asserted goes through
Airflow's REST API (/api/v2) and the warehouse. Every service is stopped by its PID at the
end, and the databases dropped.

A second profile, `--profile celery` (`make stack-test-celery`), runs the same scenario and
checks with the CeleryExecutor: Redis on 127.0.0.1:6379 as the broker (a database number and
a key prefix of its own), the metadata PostgreSQL as the result backend, and two `airflow
celery worker` processes with names of their own (tests/stack/celery_profile.py). It asserts
too that the mapped load_file tasks of an ingest run ran on both workers, that every task of
both DAGs ran on one of them, that the workers stopped cleanly and that no Redis key of the
run is left.

    python -m tests.stack.run [--profile local|celery] [--copy-project] [--keep] [--quiet-wait 60]

Exit code 0 when every check passed. A plain script, not a pytest module: it starts real
services and takes minutes (tests/conftest.py collects only tests/unit, integration, e2e).
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `python tests/stack/run.py` as well as `python -m tests.stack.run`
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.checks import Checks, Fatal  # noqa: E402
from tests.stack import celery_profile  # noqa: E402
from tests.stack.services import (  # noqa: E402
    Api,
    ApiError,
    Service,
    WaitTimeout,
    WebhookReceiver,
    free_port,
    stop_services,
    tail,
    wait_for,
)

INGEST, TRANSFORM = "fp_ingest", "fp_transform"
FIRST_MONTH = date(2026, 1, 1)
MONTHS = 4
INSTALMENT_1_LAST_AS_OF = date(2026, 2, 28)  # first instalment: the first two months' files
ADMIN = "admin"
FINISHED = ("success", "failed")
STARTED = time.monotonic()
QUIET_DAY_SECONDS = 30  # the bound for an ingest run with nothing new, under this stack


def say(message: str) -> None:
    print(f"[stack {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


@dataclass
class RunTiming:
    phase: str
    dag_id: str
    run_id: str
    run_type: str
    state: str
    seconds: float | None
    load_file: list[float] = field(default_factory=list)  # mapped task durations, s
    parse: list[float] = field(default_factory=list)  # of those, parsing the DAG file first, s


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def run_seconds(run: dict) -> float | None:
    start, end = _ts(run.get("start_date")), _ts(run.get("end_date"))
    return (end - start).total_seconds() if start and end else None


def ti_seconds(ti: dict) -> float | None:
    if ti.get("duration") is not None:
        return float(ti["duration"])
    start, end = _ts(ti.get("start_date")), _ts(ti.get("end_date"))
    return (end - start).total_seconds() if start and end else None


# ---- settings ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.stack.run", description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:3]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", choices=("local", "celery"), default="local",
                   help="local: LocalExecutor (make stack-test, the default); celery: CeleryExecutor with a Redis "
                        "broker, a PostgreSQL result backend and --celery-workers workers (make stack-test-celery)")
    p.add_argument("--broker-url", default=os.environ.get("STACK_TEST_BROKER_URL") or celery_profile.DEFAULT_BROKER_URL,
                   help="celery profile: the Redis database of the broker (default: STACK_TEST_BROKER_URL, else "
                        f"{celery_profile.DEFAULT_BROKER_URL}); the run's keys are under a prefix of its own, "
                        "deleted at the end")
    p.add_argument("--celery-workers", type=int, default=2,
                   help="celery profile: `airflow celery worker` processes, each with a name of its own (default 2)")
    p.add_argument("--worker-concurrency", type=int, default=2,
                   help="celery profile: task processes per worker ([celery] worker_concurrency, default 2: low "
                        "enough that an instalment's mapped loads go to every worker)")
    p.add_argument("--server-url", default=os.environ.get("STACK_TEST_SERVER_URL")
                   or "postgresql://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server to create the metadata and warehouse databases on "
                        "(default: STACK_TEST_SERVER_URL, else postgres@127.0.0.1:5432)")
    p.add_argument("--copy-project", action="store_true",
                   help="run the services on a copy of the working tree in the scratch folder, so that dbt's "
                        "target/, .docs/ and Data Docs of this run do not touch the project's (for running "
                        "beside `make test`); default: the project in place, as a deployment has it")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (logs, landing, outbox)")
    p.add_argument("--seed", type=int, default=7, help="the generator's seed (default 7)")
    p.add_argument("--unpause-wait", type=float, default=30,
                   help="seconds to wait for the run that unpausing fp_ingest starts before triggering one")
    p.add_argument("--quiet-wait", type=float, default=60,
                   help="seconds after the quiet day's ingest run in which no fp_transform run may start")
    p.add_argument("--asset-wait", type=float, default=120,
                   help="seconds after an ingest run for the asset-triggered fp_transform run to appear")
    p.add_argument("--run-timeout", type=float, default=540, help="seconds a DAG run may take")
    p.add_argument("--startup-timeout", type=float, default=180,
                   help="seconds for the services to be healthy and the DAGs parsed")
    return p.parse_args(argv)


def with_database(url: str, name: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


# ---- the stack ----------------------------------------------------------------------------------------


class Stack:
    """Everything this run starts, and how to stop it."""

    def __init__(self, args: argparse.Namespace, checks: Checks) -> None:
        self.args = args
        self.checks = checks
        self.scratch = Path(tempfile.mkdtemp(prefix="fpwh-stack-"))
        self.home = self.scratch / "airflow"
        self.landing = self.scratch / "landing"
        self.staging = self.scratch / "staging"
        self.outbox_dir = self.scratch / "outbox"
        self.project = ROOT
        tag = uuid.uuid4().hex[:8]
        self.meta_db, self.warehouse_db = f"fpwh_stack_{tag}_airflow", f"fpwh_stack_{tag}_warehouse"
        self.warehouse_url = with_database(args.server_url, self.warehouse_db)
        self.password = secrets.token_urlsafe(16)
        self.services: list[Service] = []
        self.celery = args.profile == "celery"
        self.key_prefix = f"fpwh-stack-{tag}:"  # the run's Redis keys (celery profile)
        self.workers = [celery_profile.Worker(f"fpwh-stack-{tag}-w{i}", self.home / "services" / f"worker-{i}.log")
                        for i in range(1, args.celery_workers + 1)] if self.celery else []
        self.broker: celery_profile.Broker | None = None
        self.created_dbs: list[str] = []
        self.mailbox = None
        self.webhook: WebhookReceiver | None = None
        self.api: Api | None = None
        self.port = 0
        self.env: dict[str, str] = {}

    # -- setup --

    def setup(self) -> None:
        say(f"scratch folder {self.scratch}")
        ensure_asyncpg()
        if self.celery:
            self.connect_broker()
        if self.args.copy_project:
            self.project = copy_project(self.scratch / "project")
            say(f"services run on a copy of the working tree: {self.project}")
        self.create_databases()
        self.start_sinks()
        self.env = self.airflow_env()
        self.migrate()
        self.start_services()
        self.wait_ready()

    def connect_broker(self) -> None:
        try:
            self.broker = celery_profile.Broker(self.args.broker_url, self.key_prefix)
        except ImportError as exc:
            raise Fatal(f"{exc}: the celery profile needs apache-airflow-providers-celery and its redis client "
                        "(requirements.lock; `make venv` installs it)") from exc
        try:
            self.broker.ping()
        except Exception as exc:  # redis.ConnectionError and friends
            raise Fatal(f"the Celery broker {celery_profile.redacted(self.args.broker_url)} does not answer "
                        f"({type(exc).__name__}: {exc}); start redis-server (.ci/run does when it is down)") from exc
        self.checks.require(f"Redis broker {celery_profile.redacted(self.args.broker_url)} answers PING", True,
                            f"this run's keys under {self.key_prefix!r}; {self.broker.other_keys()} other keys "
                            "in that database")

    def create_databases(self) -> None:
        with psycopg.connect(self.args.server_url, autocommit=True) as conn:
            for name in (self.meta_db, self.warehouse_db):
                conn.execute(f'create database "{name}"')
                self.created_dbs.append(name)
        say(f"databases: metadata {self.meta_db}, warehouse {self.warehouse_db}")

    def start_sinks(self) -> None:
        from include.demo import outbox

        self.mailbox = outbox.start(self.outbox_dir)
        self.webhook = WebhookReceiver()
        say(f"SMTP sink {self.mailbox.url} (files into {self.outbox_dir}), webhook receiver {self.webhook.url}")

    def airflow_env(self) -> dict[str, str]:
        self.port = free_port()
        self.home.mkdir(parents=True)
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({ADMIN: self.password}))
        from cryptography.fernet import Fernet

        dropped = ("AIRFLOW", "OPENLINEAGE", "FPWH_", "GX_", "DBT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)
               and k not in ("WAREHOUSE_URL", "LANDING_DIR", "REPORTING_START", "PYTHONPATH")}
        env |= {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.project / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",  # the celery profile's settings below replace it
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": with_database(self.args.server_url, self.meta_db,
                                                                 "postgresql+psycopg"),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}/",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # 86 characters: over the 64 bytes asked
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONPATH": os.pathsep.join([str(self.project), str(self.project / "dags")]),
            # OpenLineage events of this run to a file of its own
            "OPENLINEAGE_NAMESPACE": "fpwh_stack_test",
            "OPENLINEAGE__TRANSPORT__TYPE": "file",
            "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(self.scratch / "openlineage.ndjson"),
            "OPENLINEAGE__TRANSPORT__APPEND": "true",
            # the project's settings
            "WAREHOUSE_URL": self.warehouse_url,
            "LANDING_DIR": str(self.landing),
            "REPORTING_START": FIRST_MONTH.isoformat(),
            "FPWH_PSEUDONYM_KEY": secrets.token_hex(32),
            "FPWH_SMTP_URL": self.mailbox.url,
            "FPWH_WEBHOOK_URL": self.webhook.url,
            "FPWH_SETTLE_SECONDS": "2",
        }
        if self.celery:
            meta = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            env |= celery_profile.airflow_settings(self.args.broker_url, celery_profile.result_backend_url(meta),
                                                   self.key_prefix, self.args.worker_concurrency)
        return env

    def migrate(self) -> None:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, cwd=self.project,
                              capture_output=True, text=True, timeout=600)
        log = self.home / "db-migrate.log"
        log.write_text(done.stdout + done.stderr)
        self.checks.require("airflow db migrate on a fresh PostgreSQL metadata database", done.returncode == 0,
                            f"{time.monotonic() - started:.0f} s" if done.returncode == 0
                            else f"exit {done.returncode}:\n{tail(log, 30)}")
        pools = self.home / "pools.json"
        made = subprocess.run([sys.executable, "-m", "include.cli", "airflow-pools", str(pools)], env=self.env,
                              cwd=self.project, capture_output=True, text=True, timeout=120)
        imported = made.returncode == 0 and subprocess.run(
            [sys.executable, "-m", "airflow", "pools", "import", str(pools)], env=self.env, cwd=self.project,
            capture_output=True, text=True, timeout=300)
        self.checks.require("the load tasks' pool imported (include.cli airflow-pools, airflow pools import)",
                            bool(imported) and imported.returncode == 0,
                            pools.read_text() if pools.exists() else made.stderr[-2000:])

    def start_services(self) -> None:
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer"],
        }
        for name, command in commands.items():
            service = Service(name, [sys.executable, "-m", "airflow", *command], self.home / "services" / f"{name}.log")
            service.start(self.env, self.project)
            self.services.append(service)
            say(f"started {name}: PID {service.pid}, log {service.log_path}")
        for worker in self.workers:
            service = Service(f"celery worker {worker.name}",
                              celery_profile.worker_argv(sys.executable, worker, self.args.worker_concurrency),
                              worker.log_path)
            service.start(celery_profile.worker_env(self.env, worker), self.project)
            self.services.append(service)
            say(f"started celery worker {worker.name}: PID {service.pid}, concurrency "
                f"{self.args.worker_concurrency}, log {worker.log_path}")

    def wait(self, what: str, probe, timeout: float, interval: float = 2.0):
        """wait_for, failing at once when a service died."""

        def guarded():
            dead = [f"{s.name} exited with {s.exited()}" for s in self.services if s.exited() is not None]
            if dead:
                raise Fatal(f"while waiting for {what}: " + "; ".join(dead))
            return probe()

        return wait_for(what, guarded, timeout, interval)

    def wait_ready(self) -> None:
        started = time.monotonic()
        self.api = Api(f"http://127.0.0.1:{self.port}")

        def healthy():
            health = self.api.health()
            states = {part: (info or {}).get("status") for part, info in health.items()}
            return all(v == "healthy" for v in states.values()) and len(states) >= 4, states

        states = self.wait("the api-server's /api/v2/monitor/health to report every component healthy",
                           healthy, self.args.startup_timeout)
        self.checks.require("api-server up; metadatabase, scheduler, triggerer, dag-processor healthy", True,
                            f"{states}, {time.monotonic() - started:.0f} s after start")
        self.api.login(ADMIN, self.password)

        def parsed():
            errors = self.api.get("/importErrors").get("import_errors", [])
            if errors:
                raise Fatal("DAG import errors: " + "; ".join(f"{e['filename']}: {e['stack_trace'][-800:]}"
                                                             for e in errors))
            dags = {d["dag_id"]: d for d in self.api.get("/dags", dag_id_pattern="fp_")["dags"]}
            return {INGEST, TRANSFORM} <= set(dags), sorted(dags)

        found = self.wait("the dag-processor to parse fp_ingest and fp_transform (GET /api/v2/dags)", parsed,
                          self.args.startup_timeout)
        self.checks.require("both DAGs parsed, no import errors", True,
                            f"{found}, {time.monotonic() - started:.0f} s after start")
        if self.workers:
            def ready():
                waiting = [w.name for w in self.workers if not w.ready()]
                return not waiting, f"not ready yet: {waiting}"

            self.wait(f"the {len(self.workers)} Celery workers to log `celery@<name> ready.`", ready,
                      self.args.startup_timeout)
            self.checks.require(f"{len(self.workers)} Celery workers ready, each under a name of its own", True,
                                f"{[w.name for w in self.workers]}, {time.monotonic() - started:.0f} s after start")

    # -- what the tasks left --

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.warehouse_url) as conn:
            return conn.execute(sql, params).fetchall()

    def ledger(self) -> list[tuple[int, str, str, str]]:
        """(file_id, file_name, status, run_id) of every ledger row."""
        try:
            return self.query("select file_id, file_name, status, run_id from ingest.file_ledger order by file_id")
        except psycopg.errors.UndefinedTable:
            return []

    def publications(self) -> list[tuple[int, str, str]]:
        try:
            return self.query("select publication_id, action, run_id from audit.publications order by 1")
        except psycopg.errors.UndefinedTable:
            return []

    def mails(self) -> int:
        return len(list(self.outbox_dir.glob("*.eml")))

    def posts(self) -> int:
        return len(self.webhook.posts)

    def mails_per_address(self) -> dict[tuple[str, str], int]:
        """(run id, To) -> messages: a digest goes to each recipient once per run."""
        counts: dict[tuple[str, str], int] = {}
        for path in self.outbox_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            key = (str(message["X-FPWH-Run-Id"]), str(message["To"]))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def task_log_files(self, dag_id: str, run_id: str, task_id: str) -> list[Path]:
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return sorted(folder.rglob("attempt=*.log")) if folder.is_dir() else []

    def task_logs(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, lines: int = 30) -> str:
        """The end of a task instance's log (Airflow 3 writes JSON lines), readable."""
        files = [p for p in self.task_log_files(dag_id, run_id, task_id)
                 if map_index < 0 or f"map_index={map_index}" in p.parts]
        parts = []
        for path in files[-2:]:
            parts.append(f"--- {path.relative_to(self.home)}")
            parts.extend(readable(line) for line in tail(path, lines).splitlines())
        return "\n".join(parts) or f"(no log of {task_id}[{map_index}])"

    def parse_seconds(self, run_id: str) -> list[float]:
        """How long each load_file task spent parsing the DAG file before its work began."""
        found = []
        for path in self.task_log_files(INGEST, run_id, "load_file"):
            for line in path.read_text(errors="replace").splitlines():
                if '"dag_file_parse_ms"' in line:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        found.append(json.loads(line)["dag_file_parse_ms"] / 1000)
        return found

    # -- teardown --

    def print_service_logs(self, lines: int = 40) -> None:
        for service in self.services:
            print(f"\n===== last {lines} lines of {service.name} ({service.log_path}) =====")
            print("\n".join(line[:400] for line in service.tail(lines).splitlines()))

    def teardown(self) -> None:
        if self.api is not None:
            self.api.close()
        if self.services:
            say(f"stopping the {len(self.services)} services (SIGTERM, SIGKILL after 45 s)")
            report = stop_services(self.services)
            self.checks.check("every service stopped by its PID, no process of theirs left",
                              not report.alive,
                              f"PIDs {report.pids}, {report.descendants} child processes at stop, "
                              f"SIGKILL needed: {report.killed or 'none'}, still alive: {report.alive or 'none'}, "
                              f"{report.seconds:.1f} s")
            if self.workers:
                exits = {s.name: s.exited() for s in self.services if s.name.startswith("celery worker")}
                self.checks.check("the Celery workers shut down on SIGTERM by themselves (no SIGKILL)",
                                  not [n for n in report.killed if n in exits], f"exit codes {exits}")
        if self.broker is not None:
            self.clean_broker()
        if self.webhook is not None:
            self.webhook.stop()
        if self.mailbox is not None:
            self.mailbox.stop()
        self.drop_databases()
        if self.args.keep:
            say(f"kept {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def clean_broker(self) -> None:
        try:
            own = self.broker.keys()
            deleted = self.broker.delete_own_keys()
            left = self.broker.keys()
            self.checks.check("no Redis key of this run left (its prefix's keys deleted)", not left,
                              f"{deleted} keys deleted ({', '.join(own[:6])}{' ...' if len(own) > 6 else ''}); "
                              f"left: {left or 'none'}")
        except Exception as exc:  # redis errors: say so, the rest of the teardown goes on
            self.checks.check("no Redis key of this run left (its prefix's keys deleted)", False,
                              f"{type(exc).__name__}: {exc}")
        finally:
            self.broker.close()

    def drop_databases(self) -> None:
        try:
            with psycopg.connect(self.args.server_url, autocommit=True) as conn:
                for name in self.created_dbs:
                    conn.execute(f'drop database if exists "{name}" with (force)')
            if self.created_dbs:
                say(f"dropped databases {', '.join(self.created_dbs)}")
        except psycopg.Error as exc:
            print(f"could not drop databases {self.created_dbs}: {exc}", file=sys.stderr)


def ensure_asyncpg() -> None:
    """Airflow's async engine needs asyncpg with a PostgreSQL metadata database (it is in the lock)."""
    if subprocess.run([sys.executable, "-c", "import asyncpg"], capture_output=True).returncode != 0:
        raise Fatal("asyncpg is not installed: `make venv` installs requirements.lock, which has it")


def copy_project(target: Path) -> Path:
    """The working tree (tracked and untracked files, not the ignored ones) copied to `target`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


# ---- the landing folder -------------------------------------------------------------------------------


def as_of_in_name(path: Path) -> date | None:
    match = re.search(r"_(\d{4})(\d{2})(\d{2})(?:_\d+)?\.", path.name)
    try:
        return date(*map(int, match.groups())) if match else None
    except ValueError:  # an impossible date (one of the generator's bad files)
        return None


def generate_instalments(staging: Path, seed: int) -> tuple[list[Path], list[Path]]:
    """The generated files split in two: as-of date (from the name, else the arrival time)
    up to INSTALMENT_1_LAST_AS_OF, and the rest."""
    from include import synthetic

    started = time.monotonic()
    synthetic.generate(staging, preset="demo", start=FIRST_MONTH, months=MONTHS, seed=seed, defect_rate=0.01)
    first, second = [], []
    for path in sorted(staging.iterdir()):
        day = as_of_in_name(path) or date.fromtimestamp(path.stat().st_mtime)
        (first if day <= INSTALMENT_1_LAST_AS_OF else second).append(path)
    say(f"generated {len(first) + len(second)} files in {time.monotonic() - started:.1f} s: "
        f"instalment 1 {len(first)} files (as-of up to {INSTALMENT_1_LAST_AS_OF}), instalment 2 {len(second)}")
    return first, second


def deliver(files: list[Path], landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, landing / path.name)  # mtimes kept: they are the arrival times


# ---- DAG runs -------------------------------------------------------------------------------------------


class Runs:
    """What the scenario does and asserts through the REST API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.api = stack.api
        self.checks = stack.checks
        self.timings: list[RunTiming] = []
        self.notes: list[str] = []
        self.spread: dict[str, dict[str, int]] = {}  # celery profile: ingest run -> its load_file tasks per worker

    def ids(self, dag_id: str) -> set[str]:
        return {r["dag_run_id"] for r in self.api.runs(dag_id)}

    def unpause(self, dag_id: str) -> None:
        reply = self.api.patch(f"/dags/{dag_id}", {"is_paused": False})
        self.checks.require(f"{dag_id} unpaused (PATCH /api/v2/dags/{dag_id})", reply["is_paused"] is False)

    def trigger(self, dag_id: str) -> dict:
        run = self.api.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None})
        say(f"triggered {dag_id}: {run['dag_run_id']} (run_type {run['run_type']}, "
            f"triggered_by {run['triggered_by']})")
        return run

    def new_run(self, dag_id: str, known: set[str], timeout: float, what: str) -> dict:
        def appeared():
            runs = [r for r in self.api.runs(dag_id) if r["dag_run_id"] not in known]
            return bool(runs), runs[0] if runs else f"no new {dag_id} run; known runs: {sorted(known) or 'none'}"

        return self.stack.wait(what, appeared, timeout)

    def finish(self, dag_id: str, run_id: str) -> dict:
        def done():
            run = self.api.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return True, run
            tis = self.api.task_instances(dag_id, run_id)
            states: dict[str, int] = {}
            for ti in tis:
                states[f"{ti['task_id']}:{ti['state']}"] = states.get(f"{ti['task_id']}:{ti['state']}", 0) + 1
            return False, f"run state {run['state']}, task instances {states}"

        return self.stack.wait(f"{dag_id} run {run_id} to finish", done, self.stack.args.run_timeout, 3)

    def record(self, phase: str, run: dict) -> RunTiming:
        loads = []
        if run["dag_id"] == INGEST:
            tis = self.api.task_instances(INGEST, run["dag_run_id"], task_id="load_file")
            loads = [s for s in map(ti_seconds, tis) if s is not None]
        timing = RunTiming(phase, run["dag_id"], run["dag_run_id"], run["run_type"], run["state"],
                           run_seconds(run), loads, self.stack.parse_seconds(run["dag_run_id"]) if loads else [])
        self.timings.append(timing)
        say(f"{run['dag_id']} {run['dag_run_id']}: {run['state']} in {fmt(timing.seconds)} s" +
            (f"; load_file ×{len(loads)}: {spread(loads)}" if loads else ""))
        return timing

    def assert_success(self, phase: str, run: dict, fatal: bool = True) -> None:
        ok = run["state"] == "success"
        detail = f"{run['dag_run_id']}: {run['state']}"
        if not ok:
            detail += "\n" + self.failures(run)
        (self.checks.require if fatal else self.checks.check)(f"{phase}: {run['dag_id']} run succeeded", ok, detail)
        if self.stack.workers:
            self.check_workers(phase, run)

    def check_workers(self, phase: str, run: dict) -> None:
        """Celery profile: every task instance of the run that ran names one of the workers as
        its host, as the workers' own logs do; an ingest run's mapped loads went to every worker."""
        workers = self.stack.workers
        names = [w.name for w in workers]
        ran = [ti for ti in self.api.task_instances(run["dag_id"], run["dag_run_id"]) if ti.get("start_date")]
        hosts: dict[str, int] = {}
        for ti in ran:
            hosts[ti.get("hostname") or "(none)"] = hosts.get(ti.get("hostname") or "(none)", 0) + 1
        self.checks.check(f"{phase}: every {run['dag_id']} task ran on a Celery worker (task instance hostnames)",
                          ran and set(hosts) <= set(names), f"{len(ran)} task instances: {hosts}")
        by_host = {n: sorted((ti["task_id"], ti.get("map_index", -1)) for ti in ran if ti.get("hostname") == n)
                   for n in names}
        by_log = {w.name: sorted((task, index) for dag_id, run_id, task, index in w.workloads()
                                 if dag_id == run["dag_id"] and run_id == run["dag_run_id"]) for w in workers}
        self.checks.check(f"{phase}: each worker's log names exactly the {run['dag_id']} tasks that record it as host",
                          by_host == by_log, "; ".join(
                              f"{n}: {len(by_host[n])} by hostname, {len(by_log[n])} in its log"
                              + difference([f"{t}[{i}]" for t, i in by_log[n]], [f"{t}[{i}]" for t, i in by_host[n]])
                              for n in names))
        loads = [ti for ti in ran if ti["task_id"] == "load_file"]
        if run["dag_id"] == INGEST and len(loads) >= len(workers):
            per_worker = {n: sum(ti.get("hostname") == n for ti in loads) for n in names}
            self.spread[run["dag_run_id"]] = per_worker
            self.checks.check(f"{phase}: the {len(loads)} mapped load_file tasks ran on all {len(workers)} workers",
                              all(per_worker.values()), str(per_worker))

    def failures(self, run: dict) -> str:
        bad = [ti for ti in self.api.task_instances(run["dag_id"], run["dag_run_id"])
               if ti["state"] not in ("success", "skipped")]
        parts = []
        logged = 0
        for ti in bad:
            parts.append(f"task {ti['task_id']}[{ti.get('map_index', -1)}] {ti['state']}")
            if ti["state"] == "failed" and logged < 3:  # the first three failures' logs
                logged += 1
                parts.append(self.stack.task_logs(run["dag_id"], run["dag_run_id"], ti["task_id"],
                                                  ti.get("map_index", -1)))
        return "\n".join(parts) or "(no failed task instance)"

    def asset_events(self, run_id: str) -> list[dict]:
        return self.api.all("/assets/events", "asset_events", source_dag_id=INGEST, source_run_id=run_id)

    def check_events(self, phase: str, run: dict) -> None:
        """The ingest run's Asset events name exactly the raw tables that received a delivery in
        the run (a file of theirs loaded: even one whose rows were all quarantined supersedes an
        earlier delivery, so the marts change)."""
        got = sorted({e["name"] for e in self.asset_events(run["dag_run_id"])})
        fed = sorted(f"raw.{code}" for (code,) in self.stack.query(
            "select distinct source_code from ingest.file_ledger "
            "where run_id = %s and status = 'loaded'", (run["dag_run_id"],)))
        self.checks.check(f"{phase}: Asset events exactly for the raw tables that received a delivery",
                          got == fed, f"events for {len(got)} tables, files loaded into {len(fed)}"
                          + difference(got, fed))

    def transform_after(self, phase: str, ingest_run: dict, known: set[str]) -> dict:
        """The fp_transform run the ingest run's Asset events start: asset-triggered, green."""
        run = self.new_run(TRANSFORM, known, self.stack.args.asset_wait,
                           f"an asset-triggered {TRANSFORM} run after {ingest_run['dag_run_id']}")
        self.checks.check(f"{phase}: {TRANSFORM} triggered by Asset events",
                          run["run_type"] == "asset_triggered" and run["triggered_by"] == "asset",
                          f"{run['dag_run_id']}: run_type {run['run_type']}, triggered_by {run['triggered_by']}")
        run = self.finish(TRANSFORM, run["dag_run_id"])
        self.record(phase, run)
        self.assert_success(phase, run)
        return run


def readable(line: str, width: int = 400) -> str:
    """One JSON log line of Airflow 3 as `time level event`, with an exception's type,
    message and innermost frames."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:width]
    if not isinstance(entry, dict):
        return line[:width]
    text = f"{entry.get('timestamp', '')} {entry.get('level', '')} {entry.get('event', '')}"[:width]
    for error in entry.get("error_detail") or []:
        frames = error.get("frames") or []
        where = " <- ".join(f"{Path(f.get('filename', '?')).name}:{f.get('lineno')} {f.get('name')}"
                            for f in reversed(frames[-4:]))
        text += f"\n      {error.get('exc_type')}: {str(error.get('exc_value'))[:2000]}\n      at {where}"
    return text


def fmt(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.1f}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"min {min(values):.1f} / median {statistics.median(values):.1f} / max {max(values):.1f} s"


# ---- the scenario ---------------------------------------------------------------------------------------


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals that were open at one moment (an end before a start at the same instant)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def check_parallel_loads(runs: Runs, run: dict) -> None:
    """The run's load tasks ran files side by side, never more at once than the pool's slots."""
    from include import config

    loads = [ti for ti in runs.api.task_instances(INGEST, run["dag_run_id"]) if ti["task_id"] == "load_file"]
    spans = [(_ts(ti["start_date"]), _ts(ti["end_date"])) for ti in loads if ti["start_date"] and ti["end_date"]]
    most, slots = most_at_once(spans), config.LOAD_POOL_SLOTS
    pools = {ti.get("pool") for ti in loads}
    runs.checks.check(f"instalment 1: files loaded in parallel, at most the pool's {slots} at once",
                      len(spans) == len(loads) > 1 and 1 < most <= slots and pools == {config.LOAD_POOL},
                      f"{len(loads)} load tasks in pool {sorted(map(str, pools))}, at most {most} running at once")


def first_instalment(runs: Runs, files: list[Path]) -> None:
    stack, checks = runs.stack, runs.checks
    print("\n== instalment 1: the first two months; the DAGs unpaused ==", flush=True)
    deliver(files, stack.landing)
    runs.unpause(TRANSFORM)  # first, so that it is listening when fp_ingest's events come
    runs.unpause(INGEST)
    unpaused = time.monotonic()
    try:
        run = runs.new_run(INGEST, set(), stack.args.unpause_wait, f"the {INGEST} run that unpausing starts")
        note = (f"unpausing {INGEST} started {run['dag_run_id']} by itself after "
                f"{time.monotonic() - unpaused:.0f} s (run_type {run['run_type']}); no second run triggered")
    except WaitTimeout:
        run = runs.trigger(INGEST)
        note = (f"unpausing {INGEST} started no run within {stack.args.unpause_wait:.0f} s: "
                f"triggered {run['dag_run_id']}")
    say(note)
    runs.notes.append(note)
    run = runs.finish(INGEST, run["dag_run_id"])
    runs.record("instalment 1", run)
    runs.assert_success("instalment 1", run)
    ingest_runs = runs.ids(INGEST)
    checks.check(f"instalment 1: one {INGEST} run, not two back to back", len(ingest_runs) == 1,
                 str(sorted(ingest_runs)))
    runs.check_events("instalment 1", run)
    check_parallel_loads(runs, run)
    transform = runs.transform_after("instalment 1", run, set())
    ledger = stack.ledger()
    names = [row[1] for row in ledger]
    checks.check("instalment 1: the ledger holds exactly the instalment's files, each once",
                 sorted(names) == sorted(p.name for p in files),
                 f"{len(names)} ledger rows for {len(files)} files; {status_counts(ledger)}"
                 + difference(names, [p.name for p in files]))
    publications = stack.publications()
    checks.check("instalment 1: one publication, by this fp_transform run",
                 [(p[1], p[2]) for p in publications] == [("publish", transform["dag_run_id"])], str(publications))
    runs.notes.append(f"after instalment 1: {stack.mails()} mails in the outbox, {stack.posts()} webhook posts")
    checks.check("instalment 1: alerts reached the SMTP sink and the webhook receiver",
                 stack.mails() > 0 and stack.posts() > 0, f"{stack.mails()} mails, {stack.posts()} posts")
    per_address = stack.mails_per_address()
    checks.check("instalment 1: one digest per recipient (at most one mail per address and run, one robot post)",
                 max(per_address.values()) == 1 and stack.posts() == 1,
                 f"{len(per_address)} addresses x runs, most to one: {max(per_address.values())}; "
                 f"{stack.posts()} posts")


def second_instalment(runs: Runs, files: list[Path]) -> None:
    stack, checks = runs.stack, runs.checks
    print("\n== instalment 2: the rest of the files ==", flush=True)
    before, known = stack.ledger(), runs.ids(TRANSFORM)
    publications_before, mails, posts = stack.publications(), stack.mails(), stack.posts()
    deliver(files, stack.landing)
    run = runs.trigger(INGEST)
    run = runs.finish(INGEST, run["dag_run_id"])
    runs.record("instalment 2", run)
    runs.assert_success("instalment 2", run)
    ledger = stack.ledger()
    added = [row for row in ledger if row[0] not in {b[0] for b in before}]
    checks.check("instalment 2: the ledger gained exactly the new files",
                 sorted(r[1] for r in added) == sorted(p.name for p in files),
                 f"{len(added)} new rows for {len(files)} files; {status_counts(added)}"
                 + difference([r[1] for r in added], [p.name for p in files]))
    names = [row[1] for row in ledger]
    checks.check("instalment 2: no file of instalment 1 loaded again (each file_name once in the ledger)",
                 len(names) == len(set(names)) and ledger[: len(before)] == before,
                 f"{len(names)} rows, {len(set(names))} names")
    runs.check_events("instalment 2", run)
    transform = runs.transform_after("instalment 2", run, known)
    publications = stack.publications()
    new = publications[len(publications_before):]
    checks.check("instalment 2: a second publication, by this fp_transform run",
                 [(p[1], p[2]) for p in new] == [("publish", transform["dag_run_id"])] and len(publications) == 2,
                 str(publications))
    runs.notes.append(f"after instalment 2: {stack.mails() - mails} more mails, {stack.posts() - posts} more "
                      f"webhook posts ({stack.mails()} and {stack.posts()} in all)")
    say(runs.notes[-1])


def quiet_day(runs: Runs) -> None:
    stack, checks = runs.stack, runs.checks
    print("\n== a quiet day: nothing new ==", flush=True)
    before, known = stack.ledger(), runs.ids(TRANSFORM)
    publications, mails, posts = stack.publications(), stack.mails(), stack.posts()
    run = runs.trigger(INGEST)
    run = runs.finish(INGEST, run["dag_run_id"])
    runs.record("quiet day", run)
    runs.assert_success("quiet day", run)
    took = (_ts(run["end_date"]) - _ts(run["start_date"])).total_seconds()
    checks.check(f"quiet day: the ingest run with nothing new took under {QUIET_DAY_SECONDS} s",
                 took < QUIET_DAY_SECONDS, f"{took:.1f} s")
    checks.check("quiet day: the ledger is unchanged", stack.ledger() == before, f"{len(before)} rows before")
    runs.check_events("quiet day", run)  # none: no table received a delivery
    ended = _ts(run["end_date"])
    say(f"watching for {stack.args.quiet_wait:.0f} s after the ingest run ended for a {TRANSFORM} run")
    deadline = time.monotonic() + stack.args.quiet_wait - max(0.0, (datetime.now(ended.tzinfo) - ended).total_seconds())
    new: list[dict] = []
    while time.monotonic() < deadline and not new:
        new = [r for r in runs.api.runs(TRANSFORM) if r["dag_run_id"] not in known]
        time.sleep(3)
    checks.check(f"quiet day: no {TRANSFORM} run within {stack.args.quiet_wait:.0f} s of the ingest run's end",
                 not new, ", ".join(f"{r['dag_run_id']} ({r['run_type']})" for r in new) or "none")
    for extra in new:  # let it finish, so that what it published and sent is seen, and the stop is clean
        done = runs.finish(TRANSFORM, extra["dag_run_id"])
        runs.record("quiet day", done)
    checks.check("quiet day: no new publication", stack.publications() == publications,
                 str(stack.publications()[len(publications):]) or "none")
    checks.check("quiet day: no new mail and no new webhook post",
                 stack.mails() == mails and stack.posts() == posts,
                 f"{stack.mails() - mails} mails, {stack.posts() - posts} posts")


def all_green(runs: Runs) -> None:
    print("\n== every DAG run ==", flush=True)
    every = [r for dag_id in (INGEST, TRANSFORM) for r in runs.api.runs(dag_id)]
    for r in every:
        print(f"  {r['dag_id']:13} {r['dag_run_id']:55} {r['run_type']:16} {r['state']:8} {fmt(run_seconds(r))} s")
    runs.checks.check("every DAG run green", every and all(r["state"] == "success" for r in every),
                      f"{len(every)} runs: {status_counts([(0, '', r['state']) for r in every])}")
    if runs.stack.workers:  # the profile's point: never passed by having no run to look at
        spread_runs = [run_id for run_id, per_worker in runs.spread.items() if all(per_worker.values())]
        runs.checks.check(f"celery: at least one {INGEST} run's mapped loads ran on all "
                          f"{len(runs.stack.workers)} workers", bool(spread_runs),
                          f"{len(spread_runs)} of {len(runs.spread)} ingest runs with loads: {runs.spread}")


def status_counts(rows: list[tuple]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[2]] = counts.get(row[2], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"


def difference(got: list[str], expected: list[str]) -> str:
    extra, missing = sorted(set(got) - set(expected)), sorted(set(expected) - set(got))
    repeated = sorted({n for n in got if got.count(n) > 1})
    parts = [f"unexpected {extra}" if extra else "", f"missing {missing}" if missing else "",
             f"more than once {repeated}" if repeated else ""]
    return "".join(f"; {p}" for p in parts if p)


# ---- the summary ---------------------------------------------------------------------------------------


def print_summary(runs: Runs | None, checks: Checks, fatal: BaseException | None) -> None:
    print("\n== timings ==")
    if runs is not None and runs.timings:
        print(f"  {'phase':13} {'DAG':13} {'run_type':16} {'state':8} {'run s':>7}  load_file tasks")
        for t in runs.timings:
            loads = f"×{len(t.load_file)}: {spread(t.load_file)}" if t.load_file else ""
            print(f"  {t.phase:13} {t.dag_id:13} {t.run_type:16} {t.state:8} {fmt(t.seconds):>7}  {loads}")
        every_load = [s for t in runs.timings for s in t.load_file]
        print(f"  one mapped load_file task, over all runs (×{len(every_load)}): {spread(every_load)}")
        parses = [s for t in runs.timings for s in t.parse]
        print(f"  of which parsing the DAG file in the task process (×{len(parses)}): {spread(parses)}")
        quiet = [t for t in runs.timings if t.phase == "quiet day" and t.dag_id == INGEST]
        if quiet:
            print(f"  the quiet day's ingest run: {fmt(quiet[0].seconds)} s")
        for note in runs.notes:
            print(f"  {note}")
    print(f"  wall time {time.monotonic() - STARTED:.0f} s")
    print("\n== checks ==")
    for name, ok, _detail in checks.results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if fatal is not None:
        print(f"  stopped early: {type(fatal).__name__}: {fatal}")
    passed = sum(ok for _, ok, _ in checks.results)
    verdict = "PASSED" if not checks.failed and fatal is None else "FAILED"
    print(f"\nstack test {verdict}: {passed} of {len(checks.results)} checks passed", flush=True)


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")  # the finally blocks stop what was started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    checks = Checks()
    stack = Stack(args, checks)
    runs: Runs | None = None
    fatal: BaseException | None = None
    try:
        stack.setup()
        staging_first, staging_rest = generate_instalments(stack.staging, args.seed)
        runs = Runs(stack)
        first_instalment(runs, staging_first)
        second_instalment(runs, staging_rest)
        quiet_day(runs)
        all_green(runs)
    except (Fatal, WaitTimeout, ApiError, psycopg.Error, KeyboardInterrupt, OSError) as exc:
        fatal = exc
        print(f"\nSTOPPED: {type(exc).__name__}: {exc}", flush=True)
    except Exception as exc:  # a bug of this script: say where, and still clean up
        fatal = exc
        traceback.print_exc()
    finally:
        if fatal is not None or checks.failed:
            stack.print_service_logs()
        stack.teardown()
    print_summary(runs, checks, fatal)
    return 0 if fatal is None and not checks.failed else 1


if __name__ == "__main__":
    sys.exit(main())
