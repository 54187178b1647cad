"""Benchmark a district's whole history: loaded, built and gated (a benchmark, not a test).

`make bench-backfill` runs it (BENCH_BACKFILL_ARGS=--help). In one run, in a fresh scratch
database on WAREHOUSE_URL (else 127.0.0.1:5432):

1. the landing folder of the synthetic generator's district preset, every month of
   `--months` (default 24, ending two months ago, so that every file has arrived: every
   snapshot and event file, the generator's 1 % defects and its bad files), generated once
   and cached under `.bench/`
   (`--scale` thins the population: 0.1 is a tenth of the rows, in the same files);
2. load: every landed file through the real ingest path, the functions the fp_ingest DAG's
   tasks call (`include.tasks.prepare_warehouse`, `list_landed_files`, then
   `load_landed_file` per file), in `--jobs` worker processes (the DAG's mapped tasks);
3. reference: the same rows (the loaded raw rows, exported to CSV beforehand, untimed)
   copied by `psql \\copy` into tables like the raw ones (the same index), one psql per table;
4. build: `include.tasks.build_candidate_marts` (dbt seed and build, as fp_transform does),
   with dbt's slowest models from run_results.json;
5. gate: `include.tasks.check_candidate_marts` (the Great Expectations checkpoint).

Every stage but the reference runs in a child process of its own: its seconds and its peak
resident set (VmHWM; for the load, the largest of its workers') are its own. The database
is dropped at the end unless `--keep`; `--reuse NAME` skips steps 1 to 3 and builds and
gates again in a database kept before (e.g. a full-scale history loaded once: about
45 minutes of the loader's CPU at 37 k rows/s).

    .venv/bin/python benchmarks/bench_backfill.py --scale 0.1          # a tenth, minutes
    .venv/bin/python benchmarks/bench_backfill.py --keep               # the whole district
    .venv/bin/python benchmarks/bench_backfill.py --reuse fpwh_backfill_1_0_24m
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from include import config
from include.warehouse import connection

PSEUDONYM_KEY = "bench-only-key"


# ---- the landing folder ----------------------------------------------------------------


def default_start(months: int, today: date | None = None) -> date:
    """The first month of `months` that end two months before this one: the generator dates
    each file's arrival after its month (up to about three weeks late), and a file that has
    not arrived yet (a modification time in the future) is not listed for loading."""
    today = today or date.today()
    last = today.year * 12 + today.month - 1 - 2  # months since year 0 of the last month delivered
    first = last - (months - 1)
    return date(first // 12, first % 12 + 1, 1)


def landing_folder(cache: Path, scale: float, months: int, start: date, defect_rate: float) -> Path:
    """The generated landing folder, generated on first use (a marker says it is whole)."""
    name = f"district-{start:%Y%m}-{months}m" + ("" if scale == 1 else f"-scale{scale:g}") + \
        ("" if defect_rate == 0.01 else f"-defects{defect_rate:g}")
    path = cache / name
    marker = path / ".generated"
    if marker.exists():
        return path
    from include import synthetic

    print(f"generating the district preset x {scale:g}, {months} months from {start}, into {path} ...", flush=True)
    started = time.perf_counter()
    report = synthetic.generate(path, preset="district", start=start, months=months, scale=scale,
                                defect_rate=defect_rate)
    marker.touch()
    t = report["totals"]
    print(f"generated {t['files']} files, {t['rows']:,} rows ({t['bad_rows']:,} bad) in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return path


# ---- child processes -------------------------------------------------------------------


def _vm(field: str) -> int:
    """A /proc/self/status figure (VmHWM, VmRSS) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def stage_environment(url: str, landing: Path | None) -> dict[str, str]:
    """What the pipeline's tasks read from their environment, pointed at the scratch database.
    No REPORTING_START: as in the demo, reporting starts with the month of the earliest as-of
    date (the first month generated; dbt's unit tests of int_periods expect it unset)."""
    env = {config.WAREHOUSE_URL_ENV: url, config.SETTLE_SECONDS_ENV: "0",
           config.PSEUDONYM_KEY_ENV: PSEUDONYM_KEY, config.GX_ANALYTICS_ENV: "false", "DO_NOT_TRACK": "1"}
    os.environ.pop(config.REPORTING_START_ENV, None)
    if landing is not None:
        env[config.LANDING_DIR_ENV] = str(landing)
    return env


def _load_one(landed: dict) -> dict:
    """In a load worker: one landed file, as the DAG's mapped task loads it."""
    from include import tasks

    started = time.perf_counter()
    result = tasks.load_landed_file(landed, run_id="bench_backfill")
    return {"result": result, "seconds": time.perf_counter() - started, "peak_rss": _vm("VmHWM")}


def _worker_init(env: dict[str, str]) -> None:
    os.environ.update(env)
    _log_to_stdout()


def _log_to_stdout() -> None:
    """A child's log (and dbt's output) goes to its stdout, the stage's log file."""
    import logging

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def progress(text: str) -> None:
    """A child's progress line, on the terminal (stderr)."""
    print(text, file=sys.stderr, flush=True)


def load_stage(env: dict[str, str], jobs: int) -> dict:
    """The fp_ingest DAG's work: prepare, list, load every listed file (in `jobs` workers)."""
    os.environ.update(env)
    from include import tasks

    started = time.perf_counter()
    tasks.prepare_warehouse()
    listing = tasks.list_landed_files()
    to_load = listing["to_load"]
    progress(f"  {len(to_load)} files listed ({len(listing['not_read'])} not read) in "
             f"{time.perf_counter() - started:.1f} s")
    results, peak, rows = [], 0, 0
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                             initializer=_worker_init, initargs=(env,)) as pool:
        for number, done in enumerate(pool.map(_load_one, to_load), 1):
            results.append(done["result"])
            peak = max(peak, done["peak_rss"])
            rows += done["result"]["rows_read"]
            if number % 10 == 0 or number == len(to_load) or done["seconds"] > 60:
                progress(f"  {number}/{len(to_load)} files, {rows:,} rows read, "
                         f"{time.perf_counter() - started:.0f} s")
    summary = tasks.summarize_loads(results, listing["not_read"])
    return {"seconds": time.perf_counter() - started, "peak_rss": peak, "files": summary["files"],
            "rows_read": rows, "rows_loaded": sum(r["rows_loaded"] for r in results),
            "rows_quarantined": sum(r["rows_quarantined"] for r in results)}


def build_stage(env: dict[str, str]) -> dict:
    """The fp_transform DAG's build task."""
    os.environ.update(env)
    from include import tasks

    started = time.perf_counter()
    summary = tasks.build_candidate_marts()
    seconds = time.perf_counter() - started
    run_results = json.loads((config.DBT_TARGET_DIR / "run_results.json").read_text())
    nodes = sorted(run_results["results"], key=lambda r: -r["execution_time"])
    return {"seconds": seconds, "peak_rss": _vm("VmHWM"), "nodes": summary["nodes"],
            "slowest": [(n["unique_id"], round(n["execution_time"], 1)) for n in nodes[:12]]}


def gate_stage(env: dict[str, str]) -> dict:
    """The fp_transform DAG's quality-gate task; a blocked gate is an outcome, not a failure here."""
    os.environ.update(env)
    from include import tasks
    from include.errors import QualityGateFailed

    started = time.perf_counter()
    kept: dict = {}
    try:
        tasks.check_candidate_marts("bench_backfill", keep_result=kept.update)
        outcome = "passed"
    except QualityGateFailed:
        outcome = "blocked"
    return {"seconds": time.perf_counter() - started, "peak_rss": _vm("VmHWM"), "outcome": outcome,
            "checkpoint_seconds": kept.get("checkpoint_seconds"), "evaluated": kept.get("evaluated"),
            "failed": [f["check"] for f in kept.get("failed", [])],
            "warned": [f["check"] for f in kept.get("warned", [])]}


STAGES = {"load": load_stage, "build": build_stage, "gate": gate_stage}


def run_child(stage: str, env: dict[str, str], logs: Path, jobs: int = 1) -> dict:
    """Run a stage in a child process: its log (dbt's output too) into `logs`/<stage>.log,
    its progress on the terminal, its result as JSON in `logs`/<stage>.json."""
    logs.mkdir(parents=True, exist_ok=True)
    log_file, result_file = logs / f"{stage}.log", logs / f"{stage}.json"
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", stage, "--jobs", str(jobs), "--child-result", str(result_file)]
    with log_file.open("w") as out:
        done = subprocess.run(cmd, input=json.dumps(env), stdout=out, text=True, cwd=ROOT,
                              env=os.environ | {"PYTHONPATH": str(ROOT)})
    if done.returncode != 0 or not result_file.exists():
        raise SystemExit(f"the {stage} stage failed (exit {done.returncode}): see {log_file}")
    return json.loads(result_file.read_text())


# ---- the psql reference ------------------------------------------------------------------


def psql_reference(url: str, scratch: Path) -> tuple[int, float]:
    """(rows, seconds) of `psql \\copy` of every raw table's loaded rows, as CSV files
    written beforehand (not timed), into tables like the raw ones (same columns, same index)."""
    scratch.mkdir(parents=True, exist_ok=True)
    copies = []
    with connection.connect(url, autocommit=True) as conn:
        tables = [t for (t,) in conn.execute(
            "select relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'raw' and c.relkind = 'r' and c.reltuples <> 0 order by relname")]
        conn.execute("drop schema if exists bench_reference cascade")
        conn.execute("create schema bench_reference")
        for table in tables:
            csv = scratch / f"{table}.csv"
            with csv.open("wb") as out, conn.cursor() as cur:
                with cur.copy(f'copy raw."{table}" to stdout (format csv)') as copy:
                    for block in copy:
                        out.write(block)
            conn.execute(f'create table bench_reference."{table}" (like raw."{table}" including all)')
            copies.append((table, csv))
    rows, started = 0, time.perf_counter()
    try:
        for table, csv in copies:
            command = f"\\copy bench_reference.\"{table}\" from '{csv}' with (format csv)"
            out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", command],
                                 check=True, capture_output=True, text=True)
            del out
        seconds = time.perf_counter() - started
        with connection.connect(url, autocommit=True) as conn:
            for table, _ in copies:
                rows += conn.execute(f'select count(*) from bench_reference."{table}"').fetchone()[0]
            conn.execute("drop schema bench_reference cascade")
    finally:
        for _, csv in copies:
            csv.unlink(missing_ok=True)
    return rows, seconds


# ---- the run -----------------------------------------------------------------------------


def database_bytes(url: str) -> int:
    """The warehouse's size on disk (tables, indexes, TOAST) as PostgreSQL counts it."""
    with connection.connect(url, autocommit=True) as conn:
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def rate(rows: int, seconds: float) -> str:
    return f"{rows:,} rows in {seconds:,.1f} s = {rows / seconds:,.0f} rows/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/bench_backfill.py", description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="the district preset's population times this (default 1: ~97 M rows in 24 "
                             "months; 0.1: ~9.7 M)")
    parser.add_argument("--months", type=int, default=24, help="months delivered (default 24)")
    parser.add_argument("--start", type=date.fromisoformat,
                        help="first month delivered (default: the months end two "
                             f"months before this one, from {default_start(24)} for 24 months today)")
    parser.add_argument("--defect-rate", type=float, default=0.01, help="the generator's defect rate (default 0.01)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="load worker processes, as the DAG's mapped load tasks (default 1: file by file)")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".bench",
                        help="where the generated landing folder is kept (default .bench/)")
    parser.add_argument("--database", help="scratch database name (default fpwh_backfill_<scale>_<months>m)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database at the end")
    parser.add_argument("--reuse", metavar="NAME",
                        help="build and gate again in this kept database (no generating, loading or reference)")
    parser.add_argument("--no-reference", action="store_true", help="skip the psql \\copy reference")
    parser.add_argument("--skip-gate", action="store_true", help="build only")
    parser.add_argument("--builds", type=int, default=1,
                        help="build and gate this many times (default 1); the first build after a load counts "
                             "each new snapshot's rows once (int_snapshot_file_town_counts, incremental), later "
                             "ones show a daily run's steady state")
    parser.add_argument("--load-only", action="store_true",
                        help="stop after the load and the reference, keeping the database (build later with --reuse)")
    parser.add_argument("--result", type=Path, metavar="FILE",
                        help="also write the figures as JSON to FILE (rows_read, load_seconds, build_seconds, "
                             "gate_seconds, each stage's *_peak_rss, database_bytes after the build), as "
                             "benchmarks/bench_scale.py reads them")
    parser.add_argument("--child", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--child-result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.start = args.start or default_start(args.months)

    if args.child:
        env = json.loads(sys.stdin.read())
        _log_to_stdout()
        result = STAGES[args.child](env, args.jobs) if args.child == "load" else STAGES[args.child](env)
        args.child_result.write_text(json.dumps(result))
        return 0

    server = config.env(config.WAREHOUSE_URL_ENV) or config.LOCAL_SERVER_URL
    if not connection.server_answers(server):
        parser.error(f"no PostgreSQL answers at {server}: set WAREHOUSE_URL")
    name = args.reuse or args.database or f"fpwh_backfill_{args.scale:g}_{args.months}m".replace(".", "_")
    url = connection.with_database(server, name)
    keep = args.keep or bool(args.reuse) or args.load_only
    print(f"scratch database {name} on {connection.parts(server).host}:{connection.parts(server).port}"
          f" ({'kept' if keep else 'dropped at the end'}); {os.cpu_count()} CPUs, shared with whatever else "
          "runs here: timings are noisy", flush=True)
    logs = args.cache_dir / "logs" / name
    print(f"stage logs (dbt's output among them): {logs}", flush=True)
    timings: dict[str, str] = {}
    figures: dict[str, float] = {}
    try:
        if not args.reuse:
            landing = landing_folder(args.cache_dir, args.scale, args.months, args.start, args.defect_rate)
            with connection.connect(connection.with_database(server, "postgres"), autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
            connection.ensure_database(url)
            env = stage_environment(url, landing)
            print(f"load: {landing} through include.tasks, {args.jobs} worker(s) ...", flush=True)
            loaded = run_child("load", env, logs, args.jobs)
            timings["load"] = (f"{rate(loaded['rows_read'], loaded['seconds'])} read "
                               f"({loaded['rows_loaded']:,} loaded, {loaded['rows_quarantined']:,} quarantined; "
                               f"files {loaded['files']}); peak RSS {mb(loaded['peak_rss'])} a worker")
            print(f"load: {timings['load']}", flush=True)
            figures.update(rows_read=loaded["rows_read"], rows_loaded=loaded["rows_loaded"],
                           load_seconds=loaded["seconds"], load_peak_rss=loaded["peak_rss"])
            if not args.no_reference:
                rows, seconds = psql_reference(url, args.cache_dir / f"reference-{name}")
                timings["psql"] = rate(rows, seconds)
                print(f"psql \\copy of the same rows, already clean: {timings['psql']}", flush=True)
                timings["loader/psql"] = f"{(loaded['rows_loaded'] / loaded['seconds']) / (rows / seconds):.2f}"
        if args.load_only:
            return _summary(timings)
        env = stage_environment(url, None)
        for n in range(1, args.builds + 1):
            suffix = "" if args.builds == 1 else f" #{n}"
            built = run_child("build", env, logs)
            timings["build" + suffix] = (f"{built['seconds']:.1f} s, {built['nodes']} nodes; "
                                         f"peak RSS {mb(built['peak_rss'])}")
            print(f"build{suffix} (tasks.build_candidate_marts): {timings['build' + suffix]}; slowest nodes:",
                  flush=True)
            for node, seconds in built["slowest"]:
                print(f"  {seconds:7.1f} s  {node}", flush=True)
            figures.update(build_seconds=built["seconds"], build_peak_rss=built["peak_rss"],
                           database_bytes=database_bytes(url))
            if args.skip_gate:
                continue
            gated = run_child("gate", env, logs)
            timings["gate" + suffix] = (f"{gated['seconds']:.1f} s (checkpoint {gated['checkpoint_seconds']} s), "
                                        f"{gated['evaluated']} expectations, {gated['outcome']}; "
                                        f"peak RSS {mb(gated['peak_rss'])}")
            print(f"gate{suffix} (tasks.check_candidate_marts): {timings['gate' + suffix]}", flush=True)
            figures.update(gate_seconds=gated["seconds"], gate_peak_rss=gated["peak_rss"])
            if gated["failed"] or gated["warned"]:
                print(f"  blocked: {gated['failed']}; warned: {gated['warned']}", flush=True)
        if args.result:
            args.result.write_text(json.dumps(figures, indent=1))
    finally:
        if not keep:
            with connection.connect(connection.with_database(server, "postgres"), autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')
    return _summary(timings)


def _summary(timings: dict[str, str]) -> int:
    print("summary:")
    for stage, text in timings.items():
        print(f"  {stage}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
