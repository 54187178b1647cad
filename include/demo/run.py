"""`python -m include.cli demo`: the whole pipeline on one machine with nothing configured.

What is not configured gets a local default, and the run says which: an embedded PostgreSQL
(WAREHOUSE_URL unset) with a login user for each role, their passwords in files under .secrets/,
a generated landing folder (LANDING_DIR unset), a key file under .secrets/ (no pseudonym key),
a local SMTP outbox (no mail server), Airflow's home and its SQLite metadata under the project.
The defaults are set in this process's environment: the DAG runs (dag.test(), in this
process) read them as a deployment's tasks read theirs.
"""

from __future__ import annotations

import importlib
import os
import secrets
import subprocess
import sys
import time
import traceback
from collections.abc import MutableMapping
from datetime import date
from pathlib import Path

from include import config, tasks
from include.demo import console, outbox, recover
from include.ingest import pseudonym
from include.lineage import settings as lineage_settings
from include.warehouse import connection

ROOT = config.PROJECT_ROOT
DEMO_LANDING = ROOT / ".demo" / "landing"
DEMO_SECRETS = ROOT / ".secrets"
DEMO_KEY_FILE = DEMO_SECRETS / "pseudonym.key"
DEMO_OUTBOX = ROOT / ".demo" / "outbox"
DEMO_DATABASE = "fpwh"
DEMO_START = date(2026, 1, 1)
DEMO_MONTHS = 6
DEMO_SETTLE_SECONDS = "2"  # a file copied in just before the demo is loaded, not left for later


# the demo's terminal (include/demo/console.py): set by demo(), loud until then
out: console.Console = console.loud()


def say(message: str, seconds: float | None = None) -> None:
    out.say(message, seconds)


def airflow_environment() -> None:
    """Airflow's home (SQLite metadata, logs) lives under the project; set before importing it."""
    os.environ.setdefault(config.AIRFLOW_HOME_ENV, str(config.AIRFLOW_HOME))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(config.DAGS_DIR))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault(config.GX_ANALYTICS_ENV, "false")
    os.environ.setdefault(config.SETTLE_SECONDS_ENV, DEMO_SETTLE_SECONDS)
    # OpenLineage events (Airflow tasks, dbt models) to .lineage/openlineage.ndjson, unless a
    # transport is configured (OPENLINEAGE_URL=http://marquez:5000 sends them to Marquez)
    lineage_to_a_file(os.environ)
    paths = [str(ROOT), str(config.DAGS_DIR)]
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + inherited)
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def lineage_to_a_file(environ: MutableMapping[str, str], log_file: Path = config.LINEAGE_LOG_FILE) -> None:
    """Events to a local file (one JSON event a line) unless a transport is configured already:
    set OPENLINEAGE_URL (e.g. http://marquez:5000) or any other setting to send them elsewhere."""
    environ.setdefault("OPENLINEAGE_NAMESPACE", lineage_settings.DEFAULT_NAMESPACE)
    if lineage_settings.is_configured(environ) or lineage_settings.is_disabled(environ):
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    environ[f"{config.OPENLINEAGE_TRANSPORT_PREFIX}__TYPE"] = "file"
    environ[f"{config.OPENLINEAGE_TRANSPORT_PREFIX}__LOG_FILE_PATH"] = str(log_file)
    environ[f"{config.OPENLINEAGE_TRANSPORT_PREFIX}__APPEND"] = "true"


def migrate_airflow_db() -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    out.log(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"airflow db migrate failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")


def run_dag(dag_id: str, reporter: console.TaskReporter | None = None) -> None:
    """Run one DAG end to end with dag.test() and fail loudly unless every task succeeded;
    `reporter` (a registered listener) says a line per task as it finishes."""
    module = importlib.import_module(dag_id)
    if reporter is not None:
        reporter.begin(dag_id)
    dag_run = module.dag.test()
    if reporter is not None:
        reporter.end(dag_run)
    if dag_run is None or dag_run.state != "success":
        state = getattr(dag_run, "state", "no run")
        raise SystemExit(f"DAG {dag_id} ended in state {str(getattr(state, 'value', state))!r}: "
                         "the failed task and its error are above")


def _warehouse() -> str:
    started = time.monotonic()
    url = config.env(config.WAREHOUSE_URL_ENV)
    if url:
        where = "the server WAREHOUSE_URL names"
    else:
        url = connection.with_database(connection.start_embedded(), DEMO_DATABASE)
        where = f"embedded PostgreSQL, data in {config.EMBEDDED_DATA_DIR.relative_to(ROOT)}"
    connection.ensure_database(url)
    os.environ[config.WAREHOUSE_URL_ENV] = url
    say(f"warehouse: {where}", time.monotonic() - started)
    return url


def _role_logins() -> None:
    """On the embedded server: a login user for each role without one, its password in
    .secrets/<role>.password (made once, readable by this user only), so the demo runs as
    the roles, as a deployment does. A server WAREHOUSE_URL names is left to its operators:
    login users are the whole server's, and a demo there would set their passwords."""
    made = []
    for role, (_, password_env, file_env) in config.ROLE_LOGIN_ENVS.items():
        if config.env(password_env) or config.env(file_env):
            continue
        path = DEMO_SECRETS / f"{role}.password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(24) + "\n")
        os.environ[file_env] = str(path)
        made.append(role)
    if made:
        say(f"roles: login users for {', '.join(made)}, passwords in {DEMO_SECRETS.relative_to(ROOT)}/<role>.password "
            "(the embedded server trusts its local socket: they count over TCP)")


def _landing() -> Path:
    if value := config.env(config.LANDING_DIR_ENV):
        say(f"landing folder: {value}")
        return Path(value)
    if not DEMO_LANDING.is_dir() or not any(DEMO_LANDING.iterdir()):
        from include import synthetic

        started = time.monotonic()
        start = date.fromisoformat(config.reporting_start() or DEMO_START.isoformat())
        synthetic.generate(DEMO_LANDING, preset="demo", start=start, months=DEMO_MONTHS)
        os.environ.setdefault(config.REPORTING_START_ENV, start.isoformat())
        say(f"landing folder: {DEMO_LANDING.relative_to(ROOT)}, generated now (synthetic, {DEMO_MONTHS} months "
            f"from {start})", time.monotonic() - started)
    else:
        say(f"landing folder: {DEMO_LANDING.relative_to(ROOT)} (already generated)")
    os.environ[config.LANDING_DIR_ENV] = str(DEMO_LANDING)
    os.environ.setdefault(config.REPORTING_START_ENV, DEMO_START.isoformat())
    return DEMO_LANDING


def _key() -> None:
    if config.env(config.PSEUDONYM_KEY_ENV) or config.env(config.PSEUDONYM_KEY_FILE_ENV):
        return
    existed = DEMO_KEY_FILE.exists()
    pseudonym.ensure_local_key_file(DEMO_KEY_FILE)
    os.environ[config.PSEUDONYM_KEY_FILE_ENV] = str(DEMO_KEY_FILE)
    state = "existing" if existed else "created now; outside git"
    say(f"pseudonymization key: {DEMO_KEY_FILE.relative_to(ROOT)} ({state})")


def _mail() -> None:
    if config.env(config.SMTP_URL_ENV) or config.env(f"AIRFLOW_CONN_{config.SMTP_CONN_ID.upper()}"):
        return
    os.environ[config.SMTP_URL_ENV] = outbox.start(DEMO_OUTBOX).url
    # the digests filed here are read on this machine: their links open what `make docs` serves
    os.environ.setdefault(config.PUBLIC_BASE_URL_ENV, config.LOCAL_DOCS_URL)
    say(f"alerts: no mail server configured, so they are filed in {DEMO_OUTBOX.relative_to(ROOT)}/ "
        f"by a local SMTP outbox (their links: `make docs` at {config.env(config.PUBLIC_BASE_URL_ENV)})")


def demo(verbose: bool = False) -> int:
    """The whole pipeline. Quiet (the default): a line per stage on the terminal, the summary
    last, everything else in a log file under .demo/logs/; `verbose` (or FPWH_LOG_LEVEL=DEBUG):
    everything on the terminal. Returns the exit code: 0, or 1 with the error printed in full."""
    global out
    out = console.loud() if verbose or config.log_level() == "DEBUG" else console.quiet()
    try:
        return _demo()
    except (Exception, SystemExit, KeyboardInterrupt) as failure:
        return _failed(failure)
    finally:
        if out.log_path is not None:
            out.text(f"full log: {console.shown_path(out.log_path)}")
        out.close()


def _demo() -> int:
    started = time.monotonic()
    airflow_environment()
    embedded = config.env(config.WAREHOUSE_URL_ENV) is None
    # held to the end of this process: the next demo knows whether this one is still alive
    lock = recover.hold_demo_lock(Path(os.environ[config.AIRFLOW_HOME_ENV]))  # noqa: F841
    _warehouse()
    if embedded:
        _role_logins()
    _landing()
    _key()
    _mail()
    migrating = time.monotonic()
    migrate_airflow_db()
    say("Airflow's metadata database: ready", time.monotonic() - migrating)
    # runs a killed demo left running: no process of theirs is alive (this one holds the lock)
    recover.fail_dead_runs(config.PIPELINE_DAG_IDS, say)
    reporter = console.TaskReporter(out)
    console.listen(reporter)
    for dag_id in config.PIPELINE_DAG_IDS:
        run_dag(dag_id, reporter)
    say("done", time.monotonic() - started)
    _summary(tasks.report())
    return 0


def _summary(text: str) -> None:
    """The published figures (the summary's first section); in quiet mode the whole summary
    goes to the log, and `python -m include.cli summary` prints it."""
    if out.mirror is None:
        out.text(text)
        return
    head, more = console.first_section(text)
    out.log(text)
    out.text("\n" + head)
    if more:
        out.text("\nDeliveries per source and their timeliness: python -m include.cli summary (and in the log)")


def _failed(failure: BaseException) -> int:
    """The error in full on the terminal (a task's was said as it failed), the traceback in the log."""
    if isinstance(failure, KeyboardInterrupt):
        out.text("interrupted")
        return 130
    if isinstance(failure, SystemExit):
        if failure.code in (None, 0):
            return 0
        if isinstance(failure.code, int):
            return failure.code
        out.text(f"demo failed: {failure.code}")
        return 1
    out.text("demo failed:\n" + "".join(traceback.format_exception(failure)).rstrip())
    return 1
