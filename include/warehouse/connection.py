"""Where the warehouse is: its URL split for each client, connections, the embedded server.

`WAREHOUSE_URL` names a PostgreSQL server; without it the demo starts an embedded one
(the `pgserver` wheel) whose data lives under the project in `.warehouse/`.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from include import config

log = logging.getLogger(__name__)

_embedded_server = None  # kept referenced: the embedded server stops when the last handle goes


@dataclass(frozen=True)
class ConnectionParts:
    """A URL split into what libpq, dbt and Great Expectations each want."""

    host: str
    port: int
    user: str
    password: str
    dbname: str
    options: str  # session settings given at connection start (the role, include/warehouse/roles.py)


def parts(url: str) -> ConnectionParts:
    info = conninfo_to_dict(url)
    return ConnectionParts(
        host=str(info.get("host") or "127.0.0.1"),
        port=int(info.get("port") or 5432),
        user=str(info.get("user") or "postgres"),
        password=str(info.get("password") or ""),
        dbname=str(info.get("dbname") or "postgres"),
        options=str(info.get("options") or ""),
    )


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    split = urlsplit(url)
    if split.scheme not in ("postgresql", "postgres"):  # a key=value conninfo string
        return make_conninfo(url, dbname=dbname)
    return urlunsplit(split._replace(path=f"/{dbname}"))


def start_embedded(data_dir: Path = config.EMBEDDED_DATA_DIR) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL (a unix socket)."""
    global _embedded_server
    # pgserver keeps its lock files in the user's runtime folder, which a container may lack
    with config.tool_environment({"XDG_RUNTIME_DIR": config.env("XDG_RUNTIME_DIR") or "/tmp"}):
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
    """A connection to `url`, by default the warehouse (WAREHOUSE_URL)."""
    return psycopg.connect(url or config.warehouse_url(), **kwargs)


def relation_exists(conn: psycopg.Connection, relation: str) -> bool:
    """Whether `schema.table` (or a view) exists."""
    return conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()[0]


def ensure_database(url: str) -> None:
    """Create the URL's database on its server if it does not exist yet."""
    target = parts(url).dbname
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (target,)).fetchone()
        if not exists:
            conn.execute(f'create database "{target}"')
            log.info("created database %s", target)
