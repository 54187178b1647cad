"""Every setting of the warehouse, in one place: environment variables, Airflow connection
ids, paths and tunable constants.

Values from the environment are read when a function here is called (a task reads them
when it runs), never at import. Library modules only read: the command line and the tests
set the environment. The single exception is `tool_environment`, for the tools that run
in-process and take their settings from the environment only (dbt's profiles.yml, the
Great Expectations context): it sets them for the call and restores what was there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

# ---- paths ----------------------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
DBT_SOURCES_YML = DBT_PROJECT_DIR / "models" / "staging" / "_sources.yml"
ORG_UNITS_SEED = DBT_PROJECT_DIR / "seeds" / "ref_org_units.csv"
GX_CONTEXT_ROOT = PROJECT_ROOT / "expectations"
GX_DATA_DOCS_SITE = "local_site"
GX_DATA_DOCS_DIR = GX_CONTEXT_ROOT / "gx" / "uncommitted" / "data_docs" / GX_DATA_DOCS_SITE
DOCS_DIR = PROJECT_ROOT / ".docs"  # dbt docs of the newest publication (`make docs`)
REPORT_DIR = PROJECT_ROOT / ".reports"  # the commission's report site, written per publication (`make docs`: /report/)
LINEAGE_LOG_FILE = PROJECT_ROOT / ".lineage" / "openlineage.ndjson"
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".warehouse" / "pgdata"
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
DEMO_LOG_DIR = PROJECT_ROOT / ".demo" / "logs"  # the demo's full output, a file per run (include/demo/console.py)
DAGS_DIR = PROJECT_ROOT / "dags"

# ---- the warehouse's group roles (their grants: include/warehouse/schema.py) ----------------

LOADER_ROLE = "fp_loader"  # ingest and raw; the only reader of the quarantine
TRANSFORMER_ROLE = "fp_transformer"  # reads raw, builds staging to candidate, publishes
BI_ROLE = "fp_bi_reader"  # the published marts only
AUDITOR_ROLE = "fp_auditor"  # marts, the previous publication and audit

# ---- environment variables --------------------------------------------------------------------

WAREHOUSE_URL_ENV = "WAREHOUSE_URL"
LANDING_DIR_ENV = "LANDING_DIR"
REPORTING_START_ENV = "REPORTING_START"
PSEUDONYM_KEY_ENV = "FPWH_PSEUDONYM_KEY"
PSEUDONYM_KEY_FILE_ENV = "FPWH_PSEUDONYM_KEY_FILE"
SMTP_URL_ENV = "FPWH_SMTP_URL"
ALERT_FROM_ENV = "FPWH_ALERT_FROM"
DEFAULT_WEBHOOK_ENV = "FPWH_WEBHOOK_URL"
SETTLE_SECONDS_ENV = "FPWH_SETTLE_SECONDS"  # how long a landed file must hold still before it is loaded
LANDING_MARKERS_ENV = "FPWH_LANDING_MARKERS"  # true: a file is loaded once <name>.done exists beside it
REPORT_DIR_ENV = "FPWH_REPORT_DIR"  # where the report site is written (default REPORT_DIR)
RAW_RETENTION_MONTHS_ENV = "FPWH_RAW_RETENTION_MONTHS"  # months of raw snapshot history kept attached
LOAD_SLOTS_ENV = "FPWH_LOAD_SLOTS"  # files the scheduler loads at once (the pool's slots, set at deployment)
LOG_LEVEL_ENV = "FPWH_LOG_LEVEL"  # the Python loggers' level (INFO); DEBUG also makes the demo verbose
LOCAL_DOCS_URL = "http://127.0.0.1:8081"  # where `make docs` serves the docs, the report and the Data Docs
PUBLIC_BASE_URL_ENV = "FPWH_PUBLIC_BASE_URL"  # where readers open the docs and Data Docs (`make docs` serves them)
GX_WAREHOUSE_URL_ENV = "GX_WAREHOUSE_URL"  # the GX datasource's ${...}: the URL is never written to a file
GX_ANALYTICS_ENV = "GX_ANALYTICS_ENABLED"  # GX's own switch: no usage statistics leave the machine
DBT_PROFILE_ENVS = {  # what dbt_project/profiles.yml reads: the warehouse connection, split
    "host": "FPWH_PGHOST", "port": "FPWH_PGPORT", "user": "FPWH_PGUSER", "password": "FPWH_PGPASSWORD",
    "dbname": "FPWH_PGDATABASE",
}
DBT_USAGE_STATS_ENV = "DBT_SEND_ANONYMOUS_USAGE_STATS"
PG_OPTIONS_ENV = "PGOPTIONS"  # libpq's session options
# The host name a task instance records (Airflow's [core] hostname_callable = include.config.worker_hostname):
# several Celery workers on one machine each set their own, so that a task instance says which ran it
WORKER_HOSTNAME_ENV = "FPWH_WORKER_HOSTNAME"
# OpenLineage's own settings, as the Airflow provider and openlineage-python read them
OPENLINEAGE_TRANSPORT_ENVS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "AIRFLOW__OPENLINEAGE__TRANSPORT",
                              "AIRFLOW__OPENLINEAGE__CONFIG_PATH", "AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID")
OPENLINEAGE_TRANSPORT_PREFIX = "OPENLINEAGE__TRANSPORT"  # openlineage-python's OPENLINEAGE__TRANSPORT__TYPE, ...
OPENLINEAGE_DISABLED_ENVS = ("OPENLINEAGE_DISABLED", "AIRFLOW__OPENLINEAGE__DISABLED")
OPENLINEAGE_NAMESPACE_ENVS = ("AIRFLOW__OPENLINEAGE__NAMESPACE", "OPENLINEAGE_NAMESPACE")
OPENLINEAGE_CONFIG_PATH_ENV = "AIRFLOW__OPENLINEAGE__CONFIG_PATH"
OPENLINEAGE_TRANSPORT_ENV = "AIRFLOW__OPENLINEAGE__TRANSPORT"
# The login users of the warehouse's roles (include/warehouse/roles.py): per group role, the
# variables naming its login user and its password, the password given directly or as a file
# (a docker secret). A role without a password has no login user; its work runs as the owner
# (WAREHOUSE_URL) with the role set for the session.
ROLE_LOGIN_ENVS = {  # group role: (user name, password, password file)
    LOADER_ROLE: ("FPWH_LOADER_USER", "FPWH_LOADER_PASSWORD", "FPWH_LOADER_PASSWORD_FILE"),
    TRANSFORMER_ROLE: ("FPWH_TRANSFORMER_USER", "FPWH_TRANSFORMER_PASSWORD", "FPWH_TRANSFORMER_PASSWORD_FILE"),
    BI_ROLE: ("FPWH_BI_READER_USER", "FPWH_BI_READER_PASSWORD", "FPWH_BI_READER_PASSWORD_FILE"),
    AUDITOR_ROLE: ("FPWH_AUDITOR_USER", "FPWH_AUDITOR_PASSWORD", "FPWH_AUDITOR_PASSWORD_FILE"),
}

# ---- Airflow --------------------------------------------------------------------------------

AIRFLOW_TASK_ENV = "AIRFLOW_CTX_TASK_ID"  # set by Airflow in a task's process
AIRFLOW_HOME_ENV = "AIRFLOW_HOME"
DEMO_LOCK_FILE = "fpwh-demo.lock"  # in Airflow's home: held by the live demo (include/demo/recover.py)
PIPELINE_DAG_IDS = ("fp_ingest", "fp_transform")  # in the order the demo runs them

SMTP_CONN_ID = "fp_smtp"
PSEUDONYM_KEY_CONN_ID = "fp_pseudonym_key"  # its password holds the key

# ---- the warehouse -------------------------------------------------------------------------

LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DISTRICT_TIMEZONE = ZoneInfo("Asia/Shanghai")  # deadlines and "today" are the district's

# The one indicator read on another scale (boys per 100 girls, with a Wilson interval), named
# by the alerts and the gate's checks
SEX_RATIO_INDICATOR = "sex_ratio_at_birth"

# ---- tunables --------------------------------------------------------------------------------

# The Airflow pool every load task takes a slot of: files load in parallel, at most its slots at
# once. A load keeps about one core busy (parsing here, COPY in the warehouse), so the default is
# the warehouse server's cores; `python -m include.cli airflow-pools` writes it for `airflow pools import`.
LOAD_POOL = "fpwh_warehouse_loads"
LOAD_POOL_SLOTS = 2
RAW_RETENTION_MONTHS = 24  # default: snapshot months older than this are detached by `include.cli retention`
SETTLE_SECONDS = 60  # default: a file unchanged this long is complete (a copy over a slow share ends)
LOAD_BATCH_ROWS = 2000  # XLSX records read, checked and sent to COPY together: memory stays flat
LOAD_PIECE_BYTES = 1_500_000  # a CSV file is read, checked and sent a piece of about this size at a time
LOAD_PIECES_QUEUED = 2  # encoded pieces waiting for the sending thread: memory stays flat
LOGGED_BAD_ROWS = 5  # bad rows of a file named in the log, the rest counted
MAX_CELL_CHARS = 4096  # no value of the contract is longer: a longer one quarantines its row
CSV_FIELD_LIMIT = 1 << 20  # a CSV field longer than this rejects the file (an unclosed quote, or not CSV)
XLSX_MAX_UNPACKED_BYTES = 1 << 30  # a workbook's parts unpacked: more is refused unread (a ZIP bomb)
XLSX_MAX_CELLS = 20_000_000  # rows x columns of a sheet's grid, declared or referenced: more is refused unread
XLSX_READER_MEMORY_BYTES = 6 << 30  # the address space of the child process that reads a workbook
KNOWN_TEXTS = 1 << 16  # distinct texts a column's parser remembers (dates, codes): memory stays flat
GATE_SAMPLES = 5  # failing rows a quality check reports
ALERT_SAMPLES = 5  # samples an alert lists
ALERT_FAILED_NODES = 10  # failing dbt nodes a build-failure alert names
ALERT_SUPPRESSION_HOURS = 24  # an alert delivered within this many hours is not sent again
WEBHOOK_MAX_BYTES = 4000  # the WeCom robot takes at most 4096 bytes of markdown
DELIVERY_TIMEOUT_SECONDS = 10  # per SMTP or webhook call
# where a CJK font is looked for, to ship its subset in the report site (Debian: fonts-noto-cjk)
REPORT_CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
DEFAULT_ALERT_FROM = "fpwh-alerts@example.gov.cn"  # placeholder; set the real sender by configuration


# ---- reading the environment -----------------------------------------------------------------


def env(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """An environment variable, None when unset or empty."""
    return (os.environ if environ is None else environ).get(name) or None


def flag(value: object) -> bool:
    """A setting's yes or no: true, 1, yes, on (any case) are yes."""
    return value is True or str(value or "").strip().lower() in ("1", "true", "yes", "on")


def worker_hostname() -> str:
    """The host name Airflow records for the task instances this process runs, when [core]
    hostname_callable is `include.config.worker_hostname`: FPWH_WORKER_HOSTNAME (each Celery
    worker on a machine its own), else the machine's fully qualified name, Airflow's default."""
    import socket

    return (env(WORKER_HOSTNAME_ENV) or "").strip() or socket.getfqdn()


def warehouse_url() -> str:
    url = env(WAREHOUSE_URL_ENV)
    if not url:
        raise RuntimeError(
            f"{WAREHOUSE_URL_ENV} is not set: point it at a PostgreSQL database "
            "(e.g. postgresql://user:password@host:5432/warehouse), or run `make demo`, "
            "which starts an embedded server when it is unset."
        )
    return url


def secret(name: str, file_name: str) -> str | None:
    """A secret from variable `name`, else from the file that variable `file_name` names (a
    docker secret, a file `make demo` wrote): its first line. None when neither is set."""
    if value := env(name):
        return value
    path = env(file_name)
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        raise RuntimeError(f"{file_name}: {path} cannot be read") from None
    if not text:
        raise RuntimeError(f"{file_name}: {path} is empty")
    return text.splitlines()[0].strip()


def role_login(role: str) -> tuple[str, str] | None:
    """(user, password) of the login user of group role `role`, None without a password.
    The user is named by FPWH_<ROLE>_USER, by default `<role>_login`."""
    user_env, password_env, file_env = ROLE_LOGIN_ENVS[role]
    password = secret(password_env, file_env)
    return None if password is None else (env(user_env) or f"{role}_login", password)


def landing_dir() -> Path:
    value = env(LANDING_DIR_ENV)
    if not value:
        raise RuntimeError(f"{LANDING_DIR_ENV} is not set: point it at the folder extracts are delivered into")
    path = Path(value)
    if not path.is_dir():
        raise RuntimeError(f"{LANDING_DIR_ENV} {path} is not a folder")
    return path


def settle_seconds() -> float:
    value = env(SETTLE_SECONDS_ENV)
    try:
        seconds = float(value) if value is not None else SETTLE_SECONDS
    except ValueError:
        raise RuntimeError(f"{SETTLE_SECONDS_ENV}={value!r} is not a number of seconds") from None
    if seconds < 0:
        raise RuntimeError(f"{SETTLE_SECONDS_ENV}={value!r}: the settle time cannot be negative")
    return seconds


def load_pool_slots() -> int:
    value = env(LOAD_SLOTS_ENV)
    try:
        slots = int(value) if value is not None else LOAD_POOL_SLOTS
    except ValueError:
        raise RuntimeError(f"{LOAD_SLOTS_ENV}={value!r} is not a whole number of files") from None
    if slots < 1:
        raise RuntimeError(f"{LOAD_SLOTS_ENV}={value!r}: at least one file must be able to load")
    return slots


def raw_retention_months() -> int:
    value = env(RAW_RETENTION_MONTHS_ENV)
    try:
        months = int(value) if value is not None else RAW_RETENTION_MONTHS
    except ValueError:
        raise RuntimeError(f"{RAW_RETENTION_MONTHS_ENV}={value!r} is not a whole number of months") from None
    if months < 1:
        raise RuntimeError(f"{RAW_RETENTION_MONTHS_ENV}={value!r}: keep at least one month")
    return months


def landing_markers() -> bool:
    return flag(env(LANDING_MARKERS_ENV))


def report_dir() -> Path:
    """Where the report site is written: FPWH_REPORT_DIR, else REPORT_DIR."""
    value = env(REPORT_DIR_ENV)
    return Path(value) if value else REPORT_DIR


def report_link(anchor: str = "") -> str | None:
    """The report's page (index.html) under FPWH_PUBLIC_BASE_URL, at `anchor` (scorecard,
    indicator-<code>, sex-ratio, quality, timeliness); None without a base URL."""
    link = public_link(report_dir() / "index.html")
    return f"{link}#{anchor}" if link and anchor else link


def public_link(path: str | Path) -> str | None:
    """A published file (under DOCS_DIR, the report site, which `make docs` serves as report/,
    or the Data Docs, served as data_docs/) as a link under FPWH_PUBLIC_BASE_URL; None without a
    base URL or for any other file: a message never carries a path on the machine that wrote it."""
    base = env(PUBLIC_BASE_URL_ENV)
    text = str(path)
    local = Path(text.removeprefix("file://")).resolve() if text.startswith(("file://", "/")) else None
    if not base or local is None:
        return None
    for root, prefix in ((GX_DATA_DOCS_DIR, "data_docs/"), (report_dir(), "report/"), (DOCS_DIR, "")):
        if local.is_relative_to(root.resolve()):
            return f"{base.rstrip('/')}/{prefix}{local.relative_to(root.resolve()).as_posix()}"
    return None


def log_level() -> str:
    """FPWH_LOG_LEVEL: DEBUG, INFO (the default), WARNING or ERROR."""
    value = (env(LOG_LEVEL_ENV) or "INFO").strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise RuntimeError(f"{LOG_LEVEL_ENV}={value!r}: use DEBUG, INFO, WARNING or ERROR")
    return value


def reporting_start() -> str | None:
    """A date: the first reporting month, quarter and year are those containing it."""
    return env(REPORTING_START_ENV)


def in_airflow_task() -> bool:
    """Whether this process runs an Airflow task (Airflow sets the task's context variables)."""
    return env(AIRFLOW_TASK_ENV) is not None


@contextmanager
def tool_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the environment while an in-process tool runs (dbt, Great Expectations read
    their settings from it), what was there before restored afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def environment() -> Mapping[str, str]:
    """The whole environment, read-only, for settings named by prefix (OPENLINEAGE__TRANSPORT__*)."""
    return os.environ
