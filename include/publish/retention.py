"""Retention of the raw snapshot history: months older than a configured number detached.

Each snapshot source's raw table holds a partition per as-of month (`warehouse.partitions`).
Retention detaches the months older than `FPWH_RAW_RETENTION_MONTHS` (default 24: before the first day of
the month that many months before this one, in the district) and moves them to the schema
`raw_archive`, where no model reads them; `restore` attaches a month again. Nothing is
deleted: dropping an archived month is a person's decision, made by hand. Each archived and
restored month is recorded in `audit.raw_archive`.

A month is never detached while a kept publication needs it to be rebuilt (`python -m
include.cli rebuild`): retention refuses and says which publication reads it and why. Kept
are the publication the marts hold, the one `rollback` would restore, every publication made
within the retention window, and the next build (the ledger as it stands). A build reads,
per snapshot source, the current snapshots from the newest one before its reporting start
on (staging the newest, the quality marts each month's counts and the one before the
first reporting month, which the first month's growth is measured against); with no
reporting start, it reads them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import psycopg
from psycopg import sql

from include import config
from include.contract import registry
from include.warehouse import partitions, schema


@dataclass(frozen=True)
class Month:
    source_code: str
    month: date  # its first day

    def __str__(self) -> str:
        return f"raw.{self.source_code} {self.month:%Y-%m}"


@dataclass
class Plan:
    cutoff: date  # months before it are old
    detach: list[Month] = field(default_factory=list)  # old, and needed by no kept build
    needed: dict[Month, list[str]] = field(default_factory=dict)  # old, but a kept build reads it: why


def cutoff(months: int, today: date) -> date:
    """The first day of the month `months` months before today's: older months are old."""
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


_SNAPSHOTS_READ = """
with status as (select * from ingest.delivery_status_as_of(%(max_file_id)s)),
current_snapshots as (
    select l.source_code, l.as_of_date
    from ingest.file_ledger l join status s using (file_id)
    where s.effective_status = 'loaded' and l.source_code = any(%(sources)s)
),
first_read as (
    select source_code,
           coalesce(max(as_of_date) filter (where as_of_date < %(reporting_start)s::date), min(as_of_date)) as as_of
    from current_snapshots group by source_code
)
select distinct c.source_code, date_trunc('month', c.as_of_date)::date
from current_snapshots c join first_read f using (source_code)
where c.as_of_date >= f.as_of
"""


def months_read(conn: psycopg.Connection, max_file_id: int | None, reporting_start: str | None) -> set[Month]:
    """The snapshot months a build with these inputs reads (see the module's docs)."""
    sources = [s.code for s in registry.SOURCES if partitions.is_partitioned(s)]
    rows = conn.execute(_SNAPSHOTS_READ, {"max_file_id": max_file_id, "sources": sources,
                                          "reporting_start": reporting_start}).fetchall()
    return {Month(code, month) for code, month in rows}


def kept_builds(conn: psycopg.Connection, since: date) -> list[tuple[str, dict]]:
    """(who, build inputs) of every build whose raw months must stay: see the module's docs."""
    rows = conn.execute(
        """with ordered as (
               select publication_id, published_at, build_inputs,
                      row_number() over (order by publication_id desc) as age
               from audit.publications where action = 'publish')
           select o.publication_id, o.published_at, o.build_inputs,
                  case when o.publication_id = (select contents_of_publication_id from audit.current_publication)
                       then 'the publication the marts hold'
                       when o.age = 2 then 'the publication a rollback restores'
                       else 'made within the retention window' end
           from ordered o
           where o.published_at >= %s or o.age <= 2
              or o.publication_id = (select contents_of_publication_id from audit.current_publication)
           order by o.publication_id""", (since,)).fetchall()
    kept = [(f"publication {pid} ({published:%Y-%m-%d}, {why})", inputs or {}) for pid, published, inputs, why in rows]
    newest = conn.execute("select max(file_id) from ingest.file_ledger").fetchone()[0]
    kept.append(("the next build (the ledger as it stands)",
                 {"max_file_id": newest, "reporting_start": config.reporting_start()}))
    return kept


def plan(conn: psycopg.Connection, months: int, today: date) -> Plan:
    """What retention would detach, and the old months it keeps because a kept build reads them."""
    result = Plan(cutoff(months, today))
    old = [Month(src.code, month) for src in registry.SOURCES if partitions.is_partitioned(src)
           for month in sorted(partitions.attached_months(conn, src)) if month < result.cutoff]
    if not old:
        return result
    for who, inputs in kept_builds(conn, result.cutoff):
        start = inputs.get("reporting_start")
        for month in months_read(conn, inputs.get("max_file_id"), start) & set(old):
            reason = f"its reporting start is {start}" if start else "it has no reporting start: it reads every month"
            result.needed.setdefault(month, []).append(f"{who} reads it ({reason})")
    result.detach = [m for m in old if m not in result.needed]
    return result


def archive(conn: psycopg.Connection, months: list[Month]) -> list[tuple[Month, int]]:
    """Detach each month into raw_archive, one transaction each, recorded in audit.raw_archive.
    On the owner's connection (WAREHOUSE_URL)."""
    done = []
    for month in months:
        src = registry.source(month.source_code)
        table = partitions.partition_name(src, month.month)
        with conn.transaction():
            schema.lock(conn)
            rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("raw", table))).fetchone()[0]
            conn.execute(sql.SQL("alter table {} detach partition {}").format(
                sql.SQL(src.raw_table), sql.Identifier("raw", table)))
            conn.execute(sql.SQL("alter table {} set schema {}").format(
                sql.Identifier("raw", table), sql.Identifier(partitions.ARCHIVE_SCHEMA)))
            record = "insert into audit.raw_archive (source_code, month, archived_as, rows) values (%s, %s, %s, %s)"
            conn.execute(record,
                         (month.source_code, month.month, f"{partitions.ARCHIVE_SCHEMA}.{table}", rows))
        done.append((month, rows))
    return done


def restore(conn: psycopg.Connection, month: Month) -> int:
    """Attach an archived month again; its row count. LookupError when it is not archived."""
    src = registry.source(month.source_code)
    table = partitions.partition_name(src, month.month)
    with conn.transaction():
        schema.lock(conn)
        if conn.execute("select to_regclass(%s)", (f"{partitions.ARCHIVE_SCHEMA}.{table}",)).fetchone()[0] is None:
            raise LookupError(f"{month} is not archived (no table {partitions.ARCHIVE_SCHEMA}.{table})")
        conn.execute(sql.SQL("alter table {} set schema raw").format(sql.Identifier(partitions.ARCHIVE_SCHEMA, table)))
        upper = cutoff(-1, month.month)
        conn.execute(sql.SQL("alter table {} attach partition {} for values from ({}) to ({})").format(
            sql.SQL(src.raw_table), sql.Identifier("raw", table), sql.Literal(month.month), sql.Literal(upper)))
        conn.execute("update audit.raw_archive set restored_at = now() where source_code = %s and month = %s "
                     "and restored_at is null", (month.source_code, month.month))
        return conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("raw", table))).fetchone()[0]


def archived_months_read(conn: psycopg.Connection, inputs: dict) -> list[Month]:
    """The archived months a build with these inputs would read: a rebuild of it refuses while
    any is archived (its figures would silently lack their rows)."""
    archived = {Month(code, month) for code, month in conn.execute(
        "select source_code, month from audit.raw_archive where restored_at is null")}
    return sorted(months_read(conn, inputs.get("max_file_id"), inputs.get("reporting_start")) & archived,
                  key=lambda m: (m.source_code, m.month))


def district_today() -> date:
    return datetime.now(config.DISTRICT_TIMEZONE).date()
