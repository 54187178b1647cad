"""Benchmark the loader on a district-scale rkb_ldrk file (a benchmark, not a test).

`make bench-load` runs it. In one run, each in a scratch database's raw table:

1. the loader (`include.ingest.loader.load_file`: decode, validate, pseudonymize, COPY, ledger,
   all included), each run in a child process so that its wall time and peak memory (VmHWM:
   the child's peak resident set) are the loader's alone, on three files:
   - `utf8`: the generator's file (UTF-8 with a byte order mark, LF line ends, no defects);
   - `gb18030`: the same rows as GB18030 with CRLF line ends (rkb_ldrk is declared UTF-8 in the
     registry; the child declares it GB18030 for this run, nothing else changes);
   - `defects`: the generator's file of the same size with its 1 % defects (bad rows, duplicates,
     conflicting keys, warnings);
2. `psql \\copy` of the same rows, already clean: the rows the utf8 run loaded, exported to a
   CSV, the table truncated, the CSV copied back in by psql, once right after the utf8 run and
   once after the last loader run (the ratios divide by their mean: on a shared machine the
   load moves between runs);
3. pandas `DataFrame.to_sql` (SQLAlchemy + psycopg) of a 100,000-row slice of those clean rows.

Each is printed as rows/s (a loader's line also gives its CPU time and peak memory), then each
loader run's ratio to psql; the last line is `loader/psql ratio: X.XX`, the lower of the two
clean files'. `--runs` picks the loader runs; `--rows 5000000` (`make bench-load-memory`) shows
that memory stays flat in the file's size (the generator's file is repeated, with the
registration dates moved back by 28-year steps, to reach more rows than it has).
`--profile FILE` also writes a cProfile of the utf8 run (which slows it down).

The inputs are cached under `.bench/` (the first run spends about a minute generating them).
The server is WAREHOUSE_URL, else 127.0.0.1:5432. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
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
from include.ingest import landing
from include.warehouse import connection, partitions, schema

SOURCE = registry.source("rkb_ldrk")
FILE_NAME = "rkb_ldrk_20260131.csv"  # the name the loader reads the as-of date from
DEFAULT_ROWS = 1_400_000
PANDAS_ROWS = 100_000
PSEUDONYM_KEY = b"bench-only-key"


# ---- the input files ------------------------------------------------------------------


def _generated(cache: Path, defect_rate: float) -> Path:
    """The generator's whole rkb_ldrk file (district preset, one month), cached."""
    path = cache / f"generated_{defect_rate:g}" / FILE_NAME
    if path.exists():
        return path
    from include import synthetic

    scratch = cache / f"generate-{uuid.uuid4().hex[:8]}"
    print(f"generating the district preset (one month, defect rate {defect_rate:g}) into {scratch} ...", flush=True)
    try:
        synthetic.generate(scratch, preset="district", start=date(2026, 1, 1), months=1, defect_rate=defect_rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        (scratch / FILE_NAME).rename(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def input_file(cache: Path, rows: int, kind: str = "utf8") -> Path:
    """The cached file of `rows` data rows of a kind (utf8, gb18030, defects), made on first use."""
    path = cache / f"rkb_ldrk_{rows}_{kind}" / FILE_NAME
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    if kind == "gb18030":
        source = input_file(cache, rows)
        with source.open(encoding="utf-8-sig", newline="") as src, partial.open("wb") as out:
            for text in iter(lambda: src.read(1 << 22), ""):
                out.write(text.replace("\n", "\r\n").encode("gb18030"))
    else:
        _head(_generated(cache, 0.01 if kind == "defects" else 0), partial, rows)
    partial.rename(path)
    return path


def _head(source: Path, target: Path, rows: int) -> None:
    """The header and the first `rows` records, repeated (registration dates 28 years earlier
    each time: the weekdays and leap days stay, the keys differ) while the file has fewer. The
    generator quotes nothing in this file (no field holds a comma, quote or newline), so a
    record is a line."""
    with source.open("rb") as src:
        header = src.readline()
        body = src.readlines()
    at = header.decode("utf-8-sig").rstrip("\r\n").split(",").index("登记日期")
    with target.open("wb") as out:
        out.write(header)
        written, shift = 0, 0
        while written < rows:
            for line in body[:rows - written]:
                if shift:
                    fields = line.split(b",")
                    day = fields[at]
                    fields[at] = str(int(day[:4]) - 28 * shift).encode() + day[4:] if len(day) == 10 else day
                    line = b",".join(fields)
                out.write(line)
            written += min(len(body), rows - written)
            shift += 1


def _data_rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b"")) - 1


# ---- the loader, in a child process ----------------------------------------------------


def _vm(field: str) -> int:
    """A /proc/self/status figure (VmHWM, VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def child_load(url: str, path: Path, profile: Path | None, encoding: str | None) -> None:
    """Run in the child: load the file, print one JSON line with time and memory."""
    from include.ingest import loader
    from include.ingest.pseudonym import Pseudonymizer

    if encoding:  # the same rows in another encoding: the source declared so for this run
        import dataclasses

        registry.SOURCES_BY_CODE[SOURCE.code] = dataclasses.replace(SOURCE, encoding=encoding)
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


def run_loader(url: str, path: Path, profile: Path | None, encoding: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child-load", url, str(path)]
    if profile:
        cmd += ["--profile", str(profile)]
    if encoding:
        cmd += ["--child-encoding", encoding]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the loader's run failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _empty_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"truncate {SOURCE.raw_table}, ingest.quarantine, ingest.row_warnings")
        conn.execute("delete from ingest.file_ledger")


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


def as_of_options() -> str:
    """The session setting the raw table's partition key takes its default from, as the loader
    sets it for its transaction (`warehouse.partitions`): the baselines write the same month."""
    as_of = landing.parse_name(FILE_NAME).as_of
    return f"-c {partitions.AS_OF_SETTING}={as_of.isoformat()}"


def psql_copy(url: str, csv_path: Path) -> float:
    """Seconds for `psql \\copy` of the CSV into the (truncated) raw table."""
    cols = ", ".join(raw_columns())
    command = f"\\copy {SOURCE.raw_table} ({cols}) from '{csv_path}' with (format csv)"
    started = time.perf_counter()
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command], check=True,
                   env=os.environ | {"PGOPTIONS": as_of_options()})
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
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url, options=as_of_options()))
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


RUNS = {  # name -> what the run's line says
    "utf8": "UTF-8, LF, clean",
    "gb18030": "GB18030, CRLF, the same rows",
    "defects": "UTF-8, LF, the generator's 1 % defects",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/bench_load.py",
        description="Load district-scale rkb_ldrk files with the loader (UTF-8; the same rows as GB18030 with CRLF; "
                    "a file with the generator's 1 %% defects) and compare their rows/s with `psql \\copy` of "
                    "the same rows already clean and with pandas to_sql on a 100,000-row slice; the last line is "
                    "`loader/psql ratio: X.XX` (the lower of the two clean files). Uses a scratch database on "
                    "WAREHOUSE_URL (else 127.0.0.1:5432), dropped at the end.",
    )
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"data rows of the input files (default {DEFAULT_ROWS:,}; more than the generator's "
                             "~1.68 M repeats its rows with other keys)")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"the loader runs, comma-separated, of {', '.join(RUNS)} (default all; utf8 always runs)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".bench",
                        help="where the generated inputs and the exported CSV are kept (default .bench/)")
    parser.add_argument("--profile", type=Path, help="also write a cProfile of the utf8 run to this file")
    parser.add_argument("--child-load", nargs=2, metavar=("URL", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--child-encoding", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_load:
        child_load(args.child_load[0], Path(args.child_load[1]), args.profile, args.child_encoding)
        return 0

    runs = ["utf8"] + [r for r in args.runs.split(",") if r in RUNS and r != "utf8"]
    unknown = [r for r in args.runs.split(",") if r not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}: choose from {', '.join(RUNS)}")
    server = config.env(config.WAREHOUSE_URL_ENV) or config.LOCAL_SERVER_URL
    if not connection.server_answers(server):
        parser.error(f"no PostgreSQL answers at {server}: set WAREHOUSE_URL")
    paths = {run: input_file(args.cache_dir, args.rows, run) for run in runs}
    rows = _data_rows(paths["utf8"])
    for run, path in paths.items():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"input {run}: {shown}: {_data_rows(path):,} rows, {path.stat().st_size / 1e6:.0f} MB")

    name = f"fpwh_bench_{uuid.uuid4().hex[:10]}"
    url = connection.with_database(server, name)
    connection.ensure_database(url)
    clean = args.cache_dir / "clean_rows.csv"
    rates: dict[str, float] = {}
    psql_times: list[float] = []
    try:
        with psycopg.connect(url) as conn:
            schema.apply(conn)
        for run in runs:
            _empty_tables(url)
            loaded = run_loader(url, paths[run], args.profile if run == "utf8" else None,
                                "gb18030" if run == "gb18030" else None)
            result = loaded["result"]
            read = result["rows_read"]
            if result["status"] != "loaded" or (run != "defects" and result["rows_loaded"] != rows):
                raise SystemExit(f"the loader did not load every row of {run}: {result}")
            rates[run] = read / loaded["seconds"]
            extra = (f"; {result['rows_loaded']:,} loaded, {result['rows_quarantined']:,} quarantined, "
                     f"{result['rows_duplicate']:,} duplicates, {result['rows_warned']:,} warned"
                     if run == "defects" else "")
            print(f"loader, {RUNS[run]} (decode, validate, pseudonymize, COPY): {rate(read, loaded['seconds'])}; "
                  f"its CPU {loaded['cpu_seconds']:.1f} s; peak RSS {loaded['peak_rss'] / 2**20:.0f} MB "
                  f"({loaded['rss_before'] / 2**20:.0f} MB before loading){extra}", flush=True)
            if run == "utf8":  # psql's first run, right after it (the machine may be shared: a second at the end)
                with psycopg.connect(url, autocommit=True) as conn:
                    export_clean(conn, clean)
                _empty_tables(url)
                psql_times.append(psql_copy(url, clean))

        _empty_tables(url)
        psql_times.append(psql_copy(url, clean))
        psql_seconds = sum(psql_times) / len(psql_times)
        psql_rate = rows / psql_seconds
        shown = " and ".join(f"{t:.1f} s" for t in psql_times)
        print(f"psql \\copy of the same rows, already clean (the mean of {shown}): {rate(rows, psql_seconds)}")

        _empty_tables(url)
        pandas_rows, pandas_seconds = pandas_to_sql(url, clean, PANDAS_ROWS)
        print(f"pandas to_sql (SQLAlchemy + psycopg), {pandas_rows:,}-row slice: {rate(pandas_rows, pandas_seconds)}")

        for run in runs:
            print(f"loader/psql ratio, {RUNS[run]}: {rates[run] / psql_rate:.2f}")
        clean_runs = [r for r in runs if r in ("utf8", "gb18030")]
        print(f"loader/psql ratio: {min(rates[r] for r in clean_runs) / psql_rate:.2f}")
    finally:
        clean.unlink(missing_ok=True)
        with psycopg.connect(connection.with_database(server, "postgres"), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
