"""The raw history of snapshot sources, partitioned by as-of month.

A snapshot source delivers its whole population each month, and its raw table keeps every
snapshot (a district's 24 months of the four snapshot sources are about 60 M rows), while
staging reads the newest one. So those raw tables are partitioned by the file's as-of date,
one partition per month (PostgreSQL's declarative partitioning): a query that names the
as-of date reads that month's partition only, and an old month can be detached whole
(`include.publish.retention`) instead of deleted row by row. Event sources stay one table.

The partition key `_as_of_date` is not in the COPY column list: its default is read from a
setting the loader makes for its transaction (`AS_OF_SETTING`), so the loader's COPY encoders
stay as they are, and a row loaded without it fails loudly (the setting
is missing) rather than landing in a wrong month.

Partitions are made by `ingest.ensure_raw_partition`, owned by the warehouse's owner and
called by the loader in a short transaction of its own before a load: it creates the month's
table and ATTACHes it, which takes only a SHARE UPDATE EXCLUSIVE lock on the parent (CREATE
TABLE ... PARTITION OF would wait for every running load of the source to end).
"""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from include.contract import registry

AS_OF_COLUMN = "_as_of_date"
AS_OF_SETTING = "fpwh.load_as_of_date"  # the loader's transaction sets it: the default of AS_OF_COLUMN
ARCHIVE_SCHEMA = "raw_archive"  # detached months (retention), kept until restored or dropped by hand


def is_partitioned(src: registry.Source) -> bool:
    return src.kind == "snapshot"


def partition_name(src: registry.Source, as_of: date) -> str:
    return f"{src.code}_p{as_of:%Y%m}"


def column_ddl() -> str:
    return f"{AS_OF_COLUMN} date not null default current_setting('{AS_OF_SETTING}')::date"


def table_ddl(src: registry.Source, columns: str) -> str:
    """The raw table: `columns` as the loader writes them, and for a snapshot source the
    partition key after them."""
    if not is_partitioned(src):
        return f"create table if not exists {src.raw_table} (\n    {columns}\n);\n"
    return (f"create table if not exists {src.raw_table} (\n    {columns},\n    {column_ddl()}\n)"
            f" partition by range ({AS_OF_COLUMN});\n")


PARTITIONING_DDL = f"""
create schema if not exists {ARCHIVE_SCHEMA};
comment on schema {ARCHIVE_SCHEMA} is
    'Months of raw snapshot history detached by retention (python -m include.cli retention): not read by any model; restore re-attaches them.';
create or replace function ingest.ensure_raw_partition(source_code text, as_of date)
returns text
-- as its owner (who owns the raw tables): the loader may add a month, nothing else
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    parent regclass := to_regclass(format('raw.%I', source_code));
    month_start date := date_trunc('month', as_of)::date;
    part text := format('%s_p%s', source_code, to_char(as_of, 'YYYYMM'));
begin
    if parent is null or (select relkind from pg_class where oid = parent) <> 'p' then
        return null;  -- not a partitioned raw table: nothing to make
    end if;
    perform pg_advisory_xact_lock(hashtext('fpwh_partition:' || source_code));
    if to_regclass(format('raw.%I', part)) is null then
        execute format('create table raw.%I (like raw.%I including defaults)', part, source_code);
        execute format('alter table raw.%I attach partition raw.%I for values from (%L) to (%L)',
                       source_code, part, month_start, (month_start + interval '1 month')::date);
    end if;
    return part;
end $$;
comment on function ingest.ensure_raw_partition(text, date) is
    'The raw table partition of a snapshot source for the month of as_of, made (created and attached) if missing; null for an event source. Called by the loader before a load, in a transaction of its own.';
revoke execute on function ingest.ensure_raw_partition(text, date) from public;

create schema if not exists audit;
create table if not exists audit.raw_archive (
    source_code   text not null,
    month         date not null,
    archived_as   text not null,
    rows          bigint not null,
    archived_at   timestamptz not null default now(),
    archived_by   text not null default current_user,
    restored_at   timestamptz,
    primary key (source_code, month, archived_at)
);
comment on table audit.raw_archive is
    'Months of raw snapshot history detached into {ARCHIVE_SCHEMA} by retention (python -m include.cli retention), and when they were restored.';
"""


def ensure_partition(conn: psycopg.Connection, src: registry.Source, as_of: date) -> None:
    """The month's partition exists (committed at once: a load's transaction never holds the
    parent's lock that attaching takes)."""
    if is_partitioned(src):
        with conn.transaction():
            conn.execute("select ingest.ensure_raw_partition(%s, %s)", (src.code, as_of))


def set_load_as_of(conn: psycopg.Connection, as_of: date) -> None:
    """For the current transaction: the as-of date the rows COPY writes are tagged with."""
    conn.execute("select set_config(%s, %s, true)", (AS_OF_SETTING, as_of.isoformat()))


def partition_unpartitioned(conn: psycopg.Connection, src: registry.Source, columns: str) -> bool:
    """A snapshot raw table made before partitioning (a plain table) becomes partitioned, its
    rows moved into their months (each row's month is its file's as-of date in the ledger).
    Inside `schema.apply`'s transaction, under its lock. True when it did."""
    kind = conn.execute("select relkind from pg_class where oid = to_regclass(%s)", (src.raw_table,)).fetchone()
    if not is_partitioned(src) or kind is None or kind[0] != "r":
        return False
    old = sql.Identifier("raw", f"{src.code}_unpartitioned")
    conn.execute(sql.SQL("alter table {} rename to {}").format(sql.SQL(src.raw_table),
                                                               sql.Identifier(f"{src.code}_unpartitioned")))
    conn.execute(sql.SQL("alter index if exists {} rename to {}").format(
        sql.Identifier("raw", f"{src.code}_file"), sql.Identifier(f"{src.code}_unpartitioned_file")))
    conn.execute(table_ddl(src, columns))
    months = conn.execute(sql.SQL(
        "select distinct l.as_of_date from ingest.file_ledger l where l.file_id in (select distinct _file_id from {})"
    ).format(old)).fetchall()
    for (as_of,) in months:
        conn.execute("select ingest.ensure_raw_partition(%s, %s)", (src.code, as_of))
    names = sql.SQL(", ").join(sql.Identifier(c.name) for c in registry.raw_columns(src))
    conn.execute(sql.SQL(
        "insert into {table} ({names}, {as_of}) select {moved}, l.as_of_date from {old} u "
        "join ingest.file_ledger l on l.file_id = u._file_id"
    ).format(table=sql.SQL(src.raw_table), names=names, as_of=sql.Identifier(AS_OF_COLUMN),
             moved=sql.SQL(", ").join(sql.Identifier("u", c.name) for c in registry.raw_columns(src)), old=old))
    conn.execute(sql.SQL("drop table {}").format(old))
    return True


def attached_months(conn: psycopg.Connection, src: registry.Source) -> dict[date, str]:
    """The months a snapshot raw table holds as partitions: month -> partition table."""
    rows = conn.execute(
        """select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i
           join pg_class c on c.oid = i.inhrelid where i.inhparent = to_regclass(%s)""", (src.raw_table,)).fetchall()
    months = {}
    for name, bound in rows:
        start = bound.split("'")[1]  # FOR VALUES FROM ('2026-01-01') TO ('2026-02-01')
        months[date.fromisoformat(start)] = name
    return months
