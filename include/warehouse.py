"""Where the warehouse is, and its schemas, tables and roles.

`WAREHOUSE_URL` names a PostgreSQL server; without it the demo starts an embedded one
(the `pgserver` wheel) whose data lives under the project in `.warehouse/`.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from include import registry

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".warehouse" / "pgdata"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# Roles: the loader alone sees delivered rows (the quarantine); BI tools read marts only.
LOADER_ROLE = "fp_loader"
BI_ROLE = "fp_bi_reader"

_embedded_server = None  # kept referenced: the embedded server stops when the last handle goes


@dataclass(frozen=True)
class ConnectionParts:
    """A URL split into what libpq, dbt and Great Expectations each want."""

    host: str
    port: int
    user: str
    password: str
    dbname: str


def parts(url: str) -> ConnectionParts:
    info = conninfo_to_dict(url)
    return ConnectionParts(
        host=str(info.get("host") or "127.0.0.1"),
        port=int(info.get("port") or 5432),
        user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""),
        dbname=str(info.get("dbname") or "postgres"),
    )


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    split = urlsplit(url)
    if split.scheme not in ("postgresql", "postgres"):  # a key=value conninfo string
        return make_conninfo(url, dbname=dbname)
    return urlunsplit(split._replace(path=f"/{dbname}"))


def start_embedded(data_dir: Path = EMBEDDED_DATA_DIR) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL (a unix socket)."""
    global _embedded_server
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _embedded_server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return _embedded_server.get_uri()


def server_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url or warehouse_url(), **kwargs)


def warehouse_url() -> str:
    url = os.environ.get("WAREHOUSE_URL")
    if not url:
        raise RuntimeError(
            "WAREHOUSE_URL is not set: point it at a PostgreSQL database "
            "(e.g. postgresql://user:password@host:5432/warehouse), or run `make demo`, "
            "which starts an embedded server when it is unset."
        )
    return url


def ensure_database(url: str) -> None:
    """Create the URL's database on its server if it does not exist yet."""
    target = parts(url).dbname
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (target,)).fetchone()
        if not exists:
            conn.execute(f'create database "{target}"')
            log.info("created database %s", target)


INGEST_DDL = """
create schema if not exists ingest;
create schema if not exists raw;

create table if not exists ingest.file_ledger (
    file_id           bigserial primary key,
    source_code       text,
    file_name         text not null,
    as_of_date        date,
    delivery_no       integer,
    sha256            text not null,
    bytes             bigint not null,
    arrived_at        timestamptz,
    rows_read         integer,
    rows_loaded       integer,
    rows_quarantined  integer,
    rows_duplicate    integer,
    rows_warned       integer,
    status            text not null check (status in ('loaded', 'rejected')),
    reason            text,
    started_at        timestamptz not null,
    finished_at       timestamptz not null,
    run_id            text
);
comment on table ingest.file_ledger is
    'One row per delivered file, written once when its load ends. Supersession by a later _n delivery is derived in ingest.file_deliveries.';

create unique index if not exists file_ledger_name_sha
    on ingest.file_ledger (file_name, sha256);
create or replace view ingest.file_deliveries as
with superseded as (
    select
        l.file_id,
        (select min(newer.file_id) from ingest.file_ledger newer
          where newer.status = 'loaded'
            and newer.source_code = l.source_code
            and newer.as_of_date = l.as_of_date
            and newer.delivery_no > l.delivery_no) as superseded_by_file_id
    from ingest.file_ledger l
)
select
    l.*,
    superseded.superseded_by_file_id,
    case
        when l.status = 'rejected' then 'rejected'
        when superseded.superseded_by_file_id is not null then 'superseded'
        else 'loaded'
    end as effective_status
from ingest.file_ledger l
join superseded using (file_id);
comment on view ingest.file_deliveries is
    'The ledger with each file''s effective status: a loaded file is superseded by a later loaded delivery (_n) of the same source and as-of date (superseded_by_file_id: the first such file loaded).';

create table if not exists ingest.quarantine (
    file_id      bigint not null references ingest.file_ledger (file_id),
    row_number   integer not null,
    record       jsonb not null,
    reasons      text[] not null,
    primary key (file_id, row_number)
);
comment on table ingest.quarantine is
    'Bad rows, whole and as delivered (header -> value), with every reason. Holds personal data: readable by the loader role only.';

create table if not exists ingest.row_warnings (
    file_id      bigint not null references ingest.file_ledger (file_id),
    row_number   integer,
    row_key      text,
    column_name  text,
    warning      text not null
);
comment on table ingest.row_warnings is
    'Warnings on loaded rows (row_number set) and on whole files (row_number null). ID numbers in row_key are pseudonymized.';
"""


def raw_table_ddl(src: registry.Source) -> str:
    cols = ",\n    ".join(f"{c.name} {c.sql_type}" for c in registry.raw_columns(src))
    return (
        f"create table if not exists {src.raw_table} (\n    {cols}\n);\n"
        f"create index if not exists {src.code}_file on {src.raw_table} (_file_id);\n"
        f"comment on table {src.raw_table} is "
        f"'{src.name_zh} ({src.unit_zh}), {src.kind}: rows as loaded, one per delivered row; "
        f"ID numbers pseudonymized, names not loaded.';\n"
    )


def ensure_ingest_schema(conn: psycopg.Connection) -> None:
    """Create the ingest and raw tables if missing; safe to run any number of times."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_ingest_ddl'))")
        conn.execute(INGEST_DDL)
        for src in registry.SOURCES:
            conn.execute(raw_table_ddl(src))


def ensure_roles(conn: psycopg.Connection) -> None:
    """Create the warehouse roles (cluster-wide) if missing."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('fpwh_roles'))")
        for role in (LOADER_ROLE, BI_ROLE):
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(f"create role {role} nologin")
        conn.execute(f"grant usage on schema ingest, raw to {LOADER_ROLE}")
        conn.execute(f"grant select, insert on all tables in schema ingest, raw to {LOADER_ROLE}")
