"""The growth curve: the district preset at several multiples of its population, each loaded,
built and gated end to end, as one table (a benchmark, not a test).

`make bench-scale` runs it (BENCH_SCALE_ARGS=--help). Each scale is one run of
`benchmarks/bench_backfill.py` (its own scratch database, the real ingest path in `--jobs`
processes, `include.tasks.build_candidate_marts`, the quality gate), which writes its figures
to a JSON file; this prints them side by side: rows delivered, load seconds and rows/s, dbt
and gate seconds, each stage's peak memory, the warehouse's size on disk after the build, and
each cost per delivered row against the smallest scale's (1.00 everywhere is linear growth).

    .venv/bin/python benchmarks/bench_scale.py                       # 1x, 2x, 4x, 3 months
    .venv/bin/python benchmarks/bench_scale.py --scales 0.1,0.2,0.4   # the same shape, minutes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_scale(scale: float, args: argparse.Namespace, result: Path) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_backfill.py"), "--scale", f"{scale:g}",
               "--months", str(args.months), "--jobs", str(args.jobs), "--no-reference", "--result", str(result)]
    if args.cache_dir:
        command += ["--cache-dir", str(args.cache_dir)]
    print(f"\n== scale {scale:g}: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    return json.loads(result.read_text())


def mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def table(results: list[tuple[float, dict]]) -> list[str]:
    base_scale, base = results[0]
    lines = ["| scale | rows delivered | load | rows/s | dbt build | gate | peak RSS load / dbt / gate "
             "| warehouse on disk | cost per row vs first: load / dbt / gate / disk |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for scale, r in results:
        per_row = [(r[k] / r["rows_read"]) / (base[k] / base["rows_read"])
                   for k in ("load_seconds", "build_seconds", "gate_seconds", "database_bytes")]
        lines.append(
            f"| {scale:g}× | {r['rows_read']:,} | {r['load_seconds']:,.0f} s "
            f"| {r['rows_read'] / r['load_seconds']:,.0f} "
            f"| {r['build_seconds']:,.0f} s | {r['gate_seconds']:,.0f} s "
            f"| {mb(r['load_peak_rss'])} / {mb(r['build_peak_rss'])} / {mb(r['gate_peak_rss'])} "
            f"| {r['database_bytes'] / 2**30:,.1f} GiB | {' / '.join(f'{x:.2f}' for x in per_row)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench_scale.py", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1,2,4", help="multiples of the district's population (default 1,2,4)")
    parser.add_argument("--months", type=int, default=3,
                        help="months delivered at each scale (default 3: the curve is about population; "
                             "make bench-backfill measures a 24-month history)")
    parser.add_argument("--jobs", type=int, default=2, help="load processes, as the load pool's slots (default 2)")
    parser.add_argument("--cache-dir", type=Path, help="where the generated landing folders are kept (default .bench/)")
    args = parser.parse_args(argv)
    scales = [float(s) for s in args.scales.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for scale in scales:
            results.append((scale, run_scale(scale, args, Path(scratch) / f"scale-{scale:g}.json")))
    print(f"\ngrowth curve, {date.today()}, {args.months} months, {args.jobs} load processes:")
    for line in table(results):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
