"""Benchmark the loader on a district-scale rkb_ldrk file (a benchmark, not a test).

`make bench-load` runs it. In one run, on the same raw table of a scratch database:

1. the loader (`include.ingest.loader.load_file`: decode, validate, pseudonymize, COPY, ledger,
   all included), in a child process so that its wall time and peak memory (VmHWM:
   the child's peak resident set) are the loader's alone;
2. `psql \\copy` of the same rows, already clean: the loaded raw rows exported to a CSV,
   the table truncated, the CSV copied back in by psql;
3. pandas `DataFrame.to_sql` (SQLAlchemy + psycopg) of a 100,000-row slice of those
   clean rows into the truncated table (the frame built beforehand, not timed).

Each is printed as rows/s (the loader's line also gives its CPU time and peak memory); the
last line is `loader/psql ratio: X.XX`. The scratch database is dropped at the end.
`--profile FILE` also writes a cProfile of the loader's run (which slows it down).

The input is the rkb_ldrk file of the synthetic generator's district preset (one month,
defect rate 0), cut to `--rows` data rows, cached under `.bench/` (the first run spends
about half a minute generating it). The server is WAREHOUSE_URL, else 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from include import config
from include.contract import registry
from include.warehouse import connection, schema

SOURCE = registry.source("rkb_ldrk")
FILE_NAME = "rkb_ldrk_20260131.csv"  # the name the loader reads the as-of date from
DEFAULT_ROWS = 1_400_000
PANDAS_ROWS = 100_000
PSEUDONYM_KEY = b"bench-only-key"


# ---- the input file --------------------------------------------------------------------


def input_file(cache: Path, rows: int) -> Path:
    """The cached file of `rows` data rows, generated (and cut) on first use."""
    path = cache / f"rkb_ldrk_{rows}" / FILE_NAME
    if path.exists():
        return path
    from include import synthetic

    scratch = cache / f"generate-{uuid.uuid4().hex[:8]}"
    print(f"generating the district preset (one month, no defects) into {scratch} ...", flush=True)
    try:
        synthetic.generate(scratch, preset="district", start=date(2026, 1, 1), months=1, defect_rate=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        _head(scratch / FILE_NAME, partial, rows)
        partial.rename(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def _head(source: Path, target: Path, rows: int) -> None:
    """The header and the first `rows` records. The generator quotes nothing in this file
    (no field holds a comma, quote or newline), so a record is a line."""
    with source.open("rb") as src, target.open("wb") as out:
        for i, line in enumerate(src):
            if i > rows:
                break
            out.write(line)


def _data_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh) - 1


# ---- the loader, in a child process ----------------------------------------------------


def _vm(field: str) -> int:
    """A /proc/self/status figure (VmHWM, VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child_load(url: str, path: Path, profile: Path | None) -> None:
    """Run in the child: load the file, print one JSON line with time and memory."""
    from include.ingest import loader
    from include.ingest.pseudonym import Pseudonymizer

    pseudonymize = Pseudonymizer(PSEUDONYM_KEY)
    with psycopg.connect(url) as conn:
        before = _vm("VmRSS")  # interpreter, imports, a connection: not the loading
        started, cpu_started = time.perf_counter(), time.process_time()
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            result = profiler.runcall(loader.load_file, conn, path, pseudonymize)
            profiler.dump_stats(profile)
        else:
            result = loader.load_file(conn, path, pseudonymize)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "rss_before": before, "peak_rss": _vm("VmHWM"),
                      "result": result.to_dict()}))


def run_loader(url: str, path: Path, profile: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--child-load", url, str(path)]
    if profile:
        cmd += ["--profile", str(profile)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the loader's run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the baselines ---------------------------------------------------------------------


def raw_columns() -> list[str]:
    return [c.name for c in registry.raw_columns(SOURCE)]


def export_clean(conn, csv_path: Path) -> None:
    """The loaded raw rows, as CSV: the input of the baselines (streamed, never in memory)."""
    cols = ", ".join(raw_columns())
    with csv_path.open("wb") as out, conn.cursor() as cur:
        query = f"select {cols} from {SOURCE.raw_table} order by _row_number"
        with cur.copy(f"copy ({query}) to stdout (format csv)") as copy:
            for block in copy:
                out.write(block)


def psql_copy(url: str, csv_path: Path) -> float:
    """Seconds for `psql \\copy` of the CSV into the (truncated) raw table."""
    cols = ", ".join(raw_columns())
    command = f"\\copy {SOURCE.raw_table} ({cols}) from '{csv_path}' with (format csv)"
    started = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], check=True)
    return time.perf_counter() - started


def pandas_to_sql(url: str, csv_path: Path, rows: int) -> tuple[int, float]:
    """(rows, seconds) for `DataFrame.to_sql` of the first `rows` clean rows; reading the
    CSV into a typed frame is not timed."""
    import pandas as pd
    from sqlalchemy import create_engine

    raw = registry.raw_columns(SOURCE)
    frame = pd.read_csv(csv_path, names=[c.name for c in raw], nrows=rows, keep_default_na=False,
                        na_values={c.name: [""] for c in raw}, dtype=str)
    for col in raw:
        if col.sql_type == "date":
            frame[col.name] = pd.to_datetime(frame[col.name], format="%Y-%m-%d").dt.date
        elif col.sql_type in ("bigint", "integer"):
            frame[col.name] = frame[col.name].astype("int64")
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url))
    schema, table = SOURCE.raw_table.split(".")
    try:
        started = time.perf_counter()
        frame.to_sql(table, engine, schema=schema, if_exists="append", index=False)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return len(frame), seconds


# ---- the run ---------------------------------------------------------------------------


def rate(rows: int, seconds: float) -> str:
    return f"{rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/bench_load.py",
        description="Load a district-scale rkb_ldrk file with the loader and compare its rows/s with "
                    "`psql \\copy` of the same rows already clean and with pandas to_sql on a 100,000-row "
                    "slice; the last line is `loader/psql ratio: X.XX`. Uses a scratch database on "
                    "WAREHOUSE_URL (else 127.0.0.1:5432), dropped at the end.",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"data rows of the input file (default {DEFAULT_ROWS:,}; the generated file has ~1.68 M)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".bench",
                        help="where the generated input and the exported CSV are kept (default .bench/)")
    parser.add_argument("--profile", type=Path, help="also write a cProfile of the loader's run to this file")
    parser.add_argument("--child-load", nargs=2, metavar=("URL", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_load:
        child_load(args.child_load[0], Path(args.child_load[1]), args.profile)
        return 0

    server = config.env(config.WAREHOUSE_URL_ENV) or config.LOCAL_SERVER_URL
    if not connection.server_answers(server):
        parser.error(f"no PostgreSQL answers at {server}: set WAREHOUSE_URL")
    path = input_file(args.cache_dir, args.rows)
    rows = _data_rows(path)
    print(f"input: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
          f"{rows:,} rows, {path.stat().st_size / 1e6:.0f} MB")

    name = f"fpwh_bench_{uuid.uuid4().hex[:10]}"
    url = connection.with_database(server, name)
    connection.ensure_database(url)
    clean = args.cache_dir / "clean_rows.csv"
    try:
        with psycopg.connect(url) as conn:
            schema.apply(conn)

        loaded = run_loader(url, path, args.profile)
        result = loaded["result"]
        if result["status"] != "loaded" or result["rows_loaded"] != rows:
            raise SystemExit(f"the loader did not load every row: {result}")
        loader_rate = rows / loaded["seconds"]
        print(f"loader (decode, validate, pseudonymize, COPY): {rate(rows, loaded['seconds'])}; "
              f"its CPU {loaded['cpu_seconds']:.1f} s; peak RSS {loaded['peak_rss'] / 2**20:.0f} MB "
              f"({loaded['rss_before'] / 2**20:.0f} MB before loading)")

        with psycopg.connect(url, autocommit=True) as conn:
            export_clean(conn, clean)
            conn.execute(f"truncate {SOURCE.raw_table}")
        psql_seconds = psql_copy(url, clean)
        psql_rate = rows / psql_seconds
        print(f"psql \\copy of the same rows, already clean: {rate(rows, psql_seconds)}")

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"truncate {SOURCE.raw_table}")
        pandas_rows, pandas_seconds = pandas_to_sql(url, clean, PANDAS_ROWS)
        print(f"pandas to_sql (SQLAlchemy + psycopg), {pandas_rows:,}-row slice: {rate(pandas_rows, pandas_seconds)}")

        print(f"loader/psql ratio: {loader_rate / psql_rate:.2f}")
    finally:
        clean.unlink(missing_ok=True)
        with psycopg.connect(connection.with_database(server, "postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
