"""Benchmark `dbt build` of the whole project at the district preset (a benchmark, not a test).

`make bench-build` runs it:

1. the synthetic generator's district preset, 24 months from 2025-01-01 (about 97 million
   rows, 7 GB), generated once into `.bench/district-24m` (about 3 minutes);
2. into a scratch database, the loader loads what a build reads: the newest delivery that
   loads of each snapshot source (every resident, every file, every hotel on the newest date) and every
   event file of the 24 months; the older snapshots are left out, as the build never reads
   them (staging keeps a snapshot source's newest delivery) and loading them would take
   the loader another ten minutes;
3. a reference in the same server: every loaded raw table copied once
   (`create table ... as select *`), the least any build reading its inputs must do;
4. `include.transform.dbt.build` (seeds, then `dbt build`: every model, data test and unit test).

It prints the build's seconds, its ratio to the reference, and the slowest nodes. The
scratch database is kept (`--reuse` builds again without loading); `--drop` drops it.
The server is WAREHOUSE_URL, else 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from include import config
from include.errors import BadFileName
from include.ingest import landing, loader
from include.ingest.pseudonym import Pseudonymizer
from include.transform import dbt
from include.warehouse import connection, roles, schema

DEFAULT_LANDING = ROOT / ".bench" / "district-24m"
DATABASE = "fpwh_bench_build"
START = date(2025, 1, 1)
MONTHS = 24
PSEUDONYM_KEY = b"bench-only-key"


def landing_folder(path: Path) -> Path:
    """The generated landing folder, generated on first use (a marker says it is whole)."""
    marker = path / ".generated"
    if marker.exists():
        return path
    from include import synthetic

    print(f"generating the district preset, {MONTHS} months, into {path} ...", flush=True)
    synthetic.generate(path, preset="district", start=START, months=MONTHS)
    marker.touch()
    return path


def files_a_build_reads(folder: Path) -> tuple[list[Path], dict[str, list[Path]]]:
    """Every event file, and each snapshot source's files newest first (the generator makes
    some deliveries bad on purpose: the newest one that loads is the one a build reads)."""
    events, snapshots = [], {}
    for path in sorted(folder.iterdir()):
        try:
            name = landing.parse_name(path.name)
        except BadFileName:
            continue
        if name.source.kind == "event":
            events.append(path)
        else:
            snapshots.setdefault(name.source.code, []).append((name.as_of, name.delivery_no, path))
    newest_first = {code: [path for *_, path in sorted(found, reverse=True)] for code, found in snapshots.items()}
    return events, newest_first


def load(url: str, events: list[Path], snapshots: dict[str, list[Path]]) -> int:
    pseudonymize = Pseudonymizer(PSEUDONYM_KEY)
    rows = 0
    started = time.perf_counter()
    with connection.connect(url) as conn:
        schema.apply(conn)
        conn.commit()
        for code, paths in snapshots.items():
            for path in paths:
                result = loader.load_file(conn, path, pseudonymize)
                rows += result.rows_read
                if result.status == "loaded":
                    print(f"  {code}: {path.name}, {result.rows_loaded:,} rows", flush=True)
                    break
        for number, path in enumerate(events, 1):
            rows += loader.load_file(conn, path, pseudonymize).rows_read
            if number % 20 == 0 or number == len(events):
                elapsed = time.perf_counter() - started
                print(f"  loaded {number}/{len(events)} event files, {rows:,} rows in all, {elapsed:.0f} s",
                      flush=True)
    return rows


def reference_copy_seconds(url: str) -> float:
    """Copy every loaded raw table once inside the server, then drop the copies."""
    with connection.connect(url, autocommit=True) as conn:
        tables = [t for (t,) in conn.execute(
            "select tablename from pg_tables where schemaname = 'raw' order by tablename")]
        conn.execute("create schema if not exists bench_reference")
        started = time.perf_counter()
        for table in tables:
            conn.execute(f'create table bench_reference."{table}" as select * from raw."{table}"')
        seconds = time.perf_counter() - started
        conn.execute("drop schema bench_reference cascade")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--landing", type=Path, default=DEFAULT_LANDING,
                        help=f"generated landing folder (default {DEFAULT_LANDING.relative_to(ROOT)})")
    parser.add_argument("--reuse", action="store_true", help="build again in the loaded scratch database")
    parser.add_argument("--drop", action="store_true", help="drop the scratch database at the end")
    args = parser.parse_args()

    server = config.env(config.WAREHOUSE_URL_ENV) or config.LOCAL_SERVER_URL
    url = connection.with_database(server, DATABASE)
    if not args.reuse:
        events, snapshots = files_a_build_reads(landing_folder(args.landing))
        with connection.connect(server, autocommit=True) as conn:
            conn.execute(f"drop database if exists {DATABASE}")
        connection.ensure_database(url)
        print(f"loading the newest snapshots and {len(events)} event files into {DATABASE} ...", flush=True)
        started = time.perf_counter()
        rows = load(url, events, snapshots)
        print(f"loaded {rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)

    reference = reference_copy_seconds(url)
    print(f"reference (every raw table copied once): {reference:.1f} s", flush=True)
    started = time.perf_counter()
    dbt.prepare(url)  # as the pipeline builds: the owner analyzes, the transformer runs dbt
    summary = dbt.build(roles.url(roles.TRANSFORMER_ROLE, url), START.isoformat())
    seconds = time.perf_counter() - started
    run_results = json.loads((config.DBT_TARGET_DIR / "run_results.json").read_text())
    nodes = sorted(run_results["results"], key=lambda r: -r["execution_time"])
    print("slowest nodes:")
    for node in nodes[:10]:
        print(f"  {node['execution_time']:7.1f} s  {node['unique_id']}")
    print(f"build (seeds + dbt build, {summary['nodes']} nodes): {seconds:.1f} s")
    print(f"build/reference ratio: {seconds / reference:.2f}")
    if args.drop:
        with connection.connect(server, autocommit=True) as conn:
            conn.execute(f"drop database {DATABASE}")


if __name__ == "__main__":
    main()
