"""Shared fixtures: a real PostgreSQL (WAREHOUSE_URL, else 127.0.0.1:5432, else an
embedded server) with a fresh database per test that needs one; a cluster of the tests' own
with password logins over TCP, for the roles' login users; and Airflow's home under the
project so that DAG runs use their own SQLite metadata database.

Tests are sorted by kind into folders, and each gets its folder's marker: unit/ (no
database, seconds: `make test-unit`), integration/ (a real PostgreSQL, dbt, GX), e2e/ (whole
pipeline runs). A unit test that asks for a database fails. A test that needs PostgreSQL
fails, never skips, when there is none and no embedded server can start."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Before anything imports Airflow: its home, and the dags folder on the path as Airflow has it.
os.environ["AIRFLOW_HOME"] = str(ROOT / ".airflow" / "test")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["FPWH_PSEUDONYM_KEY"] = "test-only-pseudonymization-key"
os.environ["FPWH_SETTLE_SECONDS"] = "0"  # files written by a test are complete when it runs the pipeline
sys.path.insert(0, str(ROOT / "dags"))

from include import config, synthetic  # noqa: E402
from include.demo import outbox  # noqa: E402
from include.warehouse import connection, schema  # noqa: E402
from tests import corpus, pgcluster, robot  # noqa: E402


@pytest.fixture(scope="session")
def robot_server():
    """A local HTTP server standing in for the chat robot: it keeps every POST."""
    server = robot.start()
    yield server
    robot.stop(server)


KINDS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = Path(item.fspath).relative_to(ROOT / "tests").parts[0]
        if kind not in KINDS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/unit, tests/integration or tests/e2e")
        item.add_marker(kind)
        if kind == "unit" and {"server_url", "password_server"} & set(item.fixturenames):
            raise pytest.UsageError(f"{item.nodeid} is a unit test but asks for a database: move it to integration/")


@pytest.fixture(scope="session", autouse=True)
def alert_outbox(tmp_path_factory):
    """Alerts of the DAG runs go to a real local SMTP server that files them."""
    folder = tmp_path_factory.mktemp("outbox")
    mailbox = outbox.start(folder)
    os.environ[config.SMTP_URL_ENV] = mailbox.url
    yield folder
    mailbox.stop()


@pytest.fixture(scope="session", autouse=True)
def report_folder(tmp_path_factory):
    """The report sites that the tests' publications write go to a folder of the session, never .reports/."""
    folder = tmp_path_factory.mktemp("reports")
    os.environ[config.REPORT_DIR_ENV] = str(folder)
    yield folder


@pytest.fixture(scope="session")
def server_url() -> str:
    """A PostgreSQL server to create test databases on."""
    if url := config.env(config.WAREHOUSE_URL_ENV):
        return url
    if connection.server_answers(config.LOCAL_SERVER_URL):
        return config.LOCAL_SERVER_URL
    return connection.start_embedded(ROOT / ".warehouse" / "test-pgdata")


@pytest.fixture(scope="session")
def password_server():
    """A PostgreSQL cluster of the tests' own, reached over TCP with SCRAM passwords only
    (tests/pgcluster.py): the roles' login users are cluster-wide, so they are made here,
    never on the shared server, where concurrent tests would set each other's passwords."""
    cluster = pgcluster.start()
    yield cluster
    pgcluster.stop(cluster)


@pytest.fixture
def fresh_db(server_url: str):
    """The URL of a new, empty database, dropped after the test."""
    name = f"fpwh_test_{uuid.uuid4().hex[:10]}"
    url = connection.with_database(server_url, name)
    connection.ensure_database(url)
    yield url
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db(fresh_db: str):
    """A connection to a fresh database with the ingest and raw tables created."""
    with psycopg.connect(fresh_db) as conn:
        schema.apply(conn)
        yield conn


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """A synthetic landing folder: four months of the demo preset with 1 % injected defects, and
    a file whose name holds a person's name and ID number."""
    folder = tmp_path_factory.mktemp("landing")
    synthetic.generate(folder, preset="demo", start=date(2026, 1, 1), months=4, seed=7, defect_rate=0.01)
    # a careless name: a person's name and ID number (rejected; kept masked wherever it is recorded)
    some_extract = next(folder.glob("wsj_csyxzm_*.csv"))
    (folder / corpus.PII_FILE_NAME).write_bytes(some_extract.read_bytes())
    return folder


DEMO_ROBOT_PATH = "/demo-commission"


@dataclass(frozen=True)
class DemoRun:
    url: str  # the warehouse it published
    output: str  # everything it printed on the terminal (a line per stage, the figures)
    log: Path  # its full log (.demo/logs/): Airflow's task logs, dbt's, GX's, the loader's
    lineage_events: Path  # the OpenLineage events it emitted, one JSON per line
    report: Path  # the commission's report site its publication wrote (FPWH_REPORT_DIR)


@pytest.fixture(scope="session")
def demo_run(demo_landing, server_url, tmp_path_factory, robot_server):
    """`python -m include.cli demo` (both DAGs, in a real Airflow) on the synthetic landing
    folder into a fresh warehouse, its OpenLineage events to a file. Run once: several tests
    read what it left (the oracle's figures, the personal-data scans, the lineage graph)."""
    name = f"fpwh_test_{uuid.uuid4().hex[:10]}"
    url = connection.with_database(server_url, name)
    events = tmp_path_factory.mktemp("lineage") / "openlineage.ndjson"
    report = tmp_path_factory.mktemp("report")
    env = {k: v for k, v in os.environ.items() if "OPENLINEAGE" not in k}
    env |= {
        "WAREHOUSE_URL": url, "LANDING_DIR": str(demo_landing), "REPORTING_START": "2026-01-01",
        "OPENLINEAGE__TRANSPORT__TYPE": "file", "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH": str(events),
        "OPENLINEAGE__TRANSPORT__APPEND": "true", config.REPORT_DIR_ENV: str(report),
        # the commission's chat robot (the mail goes to the session's outbox, `alert_outbox`)
        "FPWH_WEBHOOK_URL": f"http://127.0.0.1:{robot_server.server_address[1]}{DEMO_ROBOT_PATH}",
    }
    done = subprocess.run([sys.executable, "-m", "include.cli", "demo"], env=env, capture_output=True, text=True,
                          cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "Published indicators, district 310112" in done.stdout
    assert (report / "index.html").is_file(), "the publication wrote no report"
    last = output.rstrip("\n").splitlines()[-1]
    assert last.startswith("full log: "), output[-2000:]
    yield DemoRun(url, output, ROOT / last.removeprefix("full log: "), events, report)
    with psycopg.connect(connection.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
