"""Command line: the pipeline for a person at a terminal.

    python -m include.cli demo       the whole pipeline, end to end, in a real Airflow
    python -m include.cli summary    print the published figures and the deliveries
    python -m include.cli rollback   restore the previous publication of the marts
    python -m include.cli lineage fp_rate_floating 310112101 2026-Q1
                                     trace a published figure to its publication, models and files
    python -m include.cli rebuild 3  rebuild publication 3 from the kept raw data and compare
    python -m include.cli generate   write a synthetic landing folder (see --help)

Environment: WAREHOUSE_URL (else `demo` starts an embedded PostgreSQL under .warehouse/),
LANDING_DIR (else `demo` generates one under .demo/), REPORTING_START (a date),
FPWH_SMTP_URL or Airflow connection fp_smtp (else `demo` files alerts in .demo/outbox/),
FPWH_PSEUDONYM_KEY or FPWH_PSEUDONYM_KEY_FILE (else `demo` creates .secrets/pseudonym.key).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from include import warehouse

ROOT = warehouse.PROJECT_ROOT
DEMO_LANDING = ROOT / ".demo" / "landing"
DEMO_KEY_FILE = ROOT / ".secrets" / "pseudonym.key"
DEMO_OUTBOX = ROOT / ".demo" / "outbox"
DEMO_DATABASE = "fpwh"
DEMO_START = date(2026, 1, 1)
DEMO_MONTHS = 6

log = logging.getLogger("fpwh")


def _say(message: str) -> None:
    print(f"[fpwh {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _airflow_environment() -> None:
    """Airflow's home (SQLite metadata, logs) lives under the project; set before importing it."""
    os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # OpenLineage events (Airflow tasks, dbt models) to .lineage/openlineage.ndjson, unless a
    # transport is configured (OPENLINEAGE_URL=http://marquez:5000 sends them to Marquez)
    from include import lineage_events

    lineage_events.default_environment(os.environ)
    paths = [str(ROOT), str(ROOT / "dags")]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)


def migrate_airflow_db() -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit("airflow db migrate failed (output above)")


def run_dag(dag_id: str) -> None:
    """Run one DAG end to end with dag.test() and fail loudly unless every task succeeded."""
    import importlib

    module = importlib.import_module(dag_id)
    dag_run = module.dag.test()
    if dag_run is None or dag_run.state != "success":
        state = getattr(dag_run, "state", "no run")
        raise SystemExit(f"DAG {dag_id} ended in state {state!r}: see the task logs above")


def _demo_warehouse() -> str:
    url = os.environ.get("WAREHOUSE_URL")
    if url:
        _say("warehouse: the server WAREHOUSE_URL names")
    else:
        url = warehouse.with_database(warehouse.start_embedded(), DEMO_DATABASE)
        _say(f"warehouse: embedded PostgreSQL, data in {warehouse.EMBEDDED_DATA_DIR.relative_to(ROOT)}")
    warehouse.ensure_database(url)
    os.environ["WAREHOUSE_URL"] = url
    return url


def _demo_landing() -> Path:
    if value := os.environ.get("LANDING_DIR"):
        _say(f"landing folder: {value}")
        return Path(value)
    if not DEMO_LANDING.is_dir() or not any(DEMO_LANDING.iterdir()):
        from include import synthetic

        start = date.fromisoformat(os.environ.get("REPORTING_START") or DEMO_START.isoformat())
        _say(f"generating a synthetic landing folder in {DEMO_LANDING.relative_to(ROOT)} "
             f"({DEMO_MONTHS} months from {start})")
        synthetic.generate(DEMO_LANDING, preset="demo", start=start, months=DEMO_MONTHS)
        os.environ.setdefault("REPORTING_START", start.isoformat())
    else:
        _say(f"landing folder: {DEMO_LANDING.relative_to(ROOT)} (already generated)")
    os.environ["LANDING_DIR"] = str(DEMO_LANDING)
    os.environ.setdefault("REPORTING_START", DEMO_START.isoformat())
    return DEMO_LANDING


def _demo_key() -> None:
    from include import pseudonym

    if os.environ.get(pseudonym.KEY_ENV) or os.environ.get(pseudonym.KEY_FILE_ENV):
        return
    existed = DEMO_KEY_FILE.exists()
    pseudonym.ensure_local_key_file(DEMO_KEY_FILE)
    os.environ[pseudonym.KEY_FILE_ENV] = str(DEMO_KEY_FILE)
    _say(f"pseudonymization key: {DEMO_KEY_FILE.relative_to(ROOT)} ({'existing' if existed else 'created now; outside git'})")


def _demo_mail() -> None:
    from include import alerts, outbox

    if os.environ.get(alerts.SMTP_URL_ENV) or os.environ.get("AIRFLOW_CONN_FP_SMTP"):
        return
    outbox.start(DEMO_OUTBOX)
    _say(f"alerts: no mail server configured, so they are filed in {DEMO_OUTBOX.relative_to(ROOT)}/ by a local SMTP outbox")


def demo(_args: argparse.Namespace) -> int:
    started = time.monotonic()
    _airflow_environment()
    _demo_warehouse()
    _demo_landing()
    _demo_key()
    _demo_mail()
    _say("preparing Airflow's metadata database")
    migrate_airflow_db()
    for dag_id in ("fp_ingest", "fp_transform"):
        _say(f"running DAG {dag_id}")
        run_dag(dag_id)
    from include import pipeline

    _say(f"done in {time.monotonic() - started:.0f} s")
    print(pipeline.report())
    return 0


def summary(_args: argparse.Namespace) -> int:
    from include import pipeline

    print(pipeline.report())
    return 0


def rollback(_args: argparse.Namespace) -> int:
    from include import publish

    with warehouse.connect() as conn:
        result = publish.rollback(conn)
    _say(f"rolled back: marts now hold the previous publication (audit row {result['publication_id']})")
    return 0


def lineage(args: argparse.Namespace) -> int:
    from include import audit

    with warehouse.connect() as conn:
        print(audit.trace(conn, args.indicator, args.org, args.period))
    return 0


def rebuild(args: argparse.Namespace) -> int:
    """Rebuild the marts of a past publication from the kept raw data, into the candidate
    schema (not published), and compare their contents with what was published."""
    from include import audit, publish, transform

    url = warehouse.warehouse_url()
    with warehouse.connect(url) as conn:
        inputs = audit.publication_inputs(conn, args.publication_id)
    _say(f"rebuilding publication {args.publication_id} with {inputs}")
    transform.build(url, inputs=inputs)
    with warehouse.connect(url) as conn:
        matches = audit.rebuild_matches(conn, args.publication_id, publish.CANDIDATE)
    for table, same in matches.items():
        print(f"  {table:<24} {'identical' if same else 'DIFFERENT'}")
    return 0 if all(matches.values()) else 1


def generate(args: argparse.Namespace) -> int:
    from include import synthetic

    return synthetic.main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the whole pipeline end to end and print the summary").set_defaults(func=demo)
    commands.add_parser("summary", help="print the published figures and the deliveries").set_defaults(func=summary)
    commands.add_parser("rollback", help="restore the previous publication").set_defaults(func=rollback)
    trace = commands.add_parser("lineage", help="trace a published figure to its publication, models and files")
    trace.add_argument("indicator", help="indicator code, e.g. fp_rate_floating")
    trace.add_argument("org", help="org code: 310112 or a 9-digit town code")
    trace.add_argument("period", help="period label: 2026-03, 2026-Q1 or 2026")
    trace.set_defaults(func=lineage)
    again = commands.add_parser("rebuild", help="rebuild a past publication from the raw data and compare")
    again.add_argument("publication_id", type=int)
    again.set_defaults(func=rebuild)
    gen = commands.add_parser("generate", help="write a synthetic landing folder", add_help=False)
    gen.add_argument("rest", nargs=argparse.REMAINDER)
    gen.set_defaults(func=generate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
