"""The driver: the presets, generate() (simulate, plan, write, damage, time, report) and
the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from include.contract import registry as reg
from include.synthetic import quality_faults as quality_faults_module
from include.synthetic.dates import add_months, day_no, month_end
from include.synthetic.defects import RULES, Injector, bad_files, garble, truncate
from include.synthetic.deliveries import Delivery, delivery_plan, layout_variants
from include.synthetic.people import populate
from include.synthetic.randomness import stream
from include.synthetic.services import add_services
from include.synthetic.world import Preset, World
from include.synthetic.writers import Run, set_arrival_times, write_file

PRESETS: dict[str, Preset] = {
    # Births are boosted far above the real rate (≈150 a year for 20,000 people) so that
    # the monthly indicators have data in most towns.
    "demo": Preset(9_500, 10_500, 540, 300, 15, 60, (4, 12)),
    "district": Preset(1_250_000, 1_400_000, 20_000, 15_000, 1_000, 3_000, (15, 45)),
    # For the quality marts' tests: the checks judge counts of 20 and more, so births enough
    # for the larger towns' months (20 to 35 each; more would use up the mothers and fall).
    "quality": Preset(30_000, 30_000, 6_000, 3_000, 15, 60, (4, 12)),
}


def scaled(preset: Preset, scale: float) -> Preset:
    """The preset with its population and every yearly count (births, marriages, hotels,
    points) times `scale`, each at least 1; villages per town stay (the district keeps its
    shape, thinner). Scale 1 is the preset itself."""
    if scale <= 0:
        raise ValueError("scale must be greater than 0")
    if scale == 1:
        return preset
    counts = ("registered", "floating", "births_per_year", "marriages_per_year", "hotels", "points")
    return dataclasses.replace(preset, **{name: max(1, round(getattr(preset, name) * scale)) for name in counts})


def build_world(preset: Preset, start: date, months: int, seed: int,
                progress: Callable[[str], None] | None = None) -> World:
    """The district for `months` delivered months from `start`, simulated from two years
    before them (the first files' backlog) to 280 days after (pregnancies whose
    registrations and checks are delivered)."""
    say = progress or (lambda _m: None)
    first = start.replace(day=1)
    as_of = [month_end(add_months(first, i)) for i in range(months)]
    quarter = [d for d in as_of if d.month % 3 == 0] or [as_of[-1]]
    w = World(preset, seed, as_of, quarter, sim_start=day_no(date(first.year - 2, 1, 1)),
              window_start=day_no(first), last_as_of=day_no(as_of[-1]), sim_end=day_no(as_of[-1]) + 280)
    populate(w, say)
    say("services")
    add_services(w)
    return w


def generate(landing_dir: Path, *, preset: str = "demo", start: date = date(2026, 1, 1), months: int = 6,
             seed: int = 20261128, defect_rate: float = 0.01, quality_faults: bool = False,
             progress: Callable[[str], None] | None = None, scale: float = 1.0) -> dict:
    """Write a synthetic landing folder and return what was written and injected.

    The report: `files` (per file: source, as_of, delivery, rows written, bad_rows and
    warnings by rule, duplicates, defects injected by rule, re-delivered and corrected
    rows, headers as written, extra/missing headers, supersession), `bad_files` (name ->
    reason), `sources` (source -> its files), `defects` (rule -> injections over all
    files) and `totals`. With `quality_faults`, faults in what the files say together
    (include/synthetic/quality_faults.py), and where, under `quality_faults`. `scale`
    multiplies the preset's population and yearly counts (`scaled`): 0.1 is a tenth of the
    district's rows, in the same files.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if months < 1 or not 0 <= defect_rate < 1:
        raise ValueError("months must be at least 1 and defect_rate in [0, 1)")
    say = progress or (lambda _m: None)
    landing = Path(landing_dir)
    landing.mkdir(parents=True, exist_ok=True)
    w = build_world(scaled(PRESETS[preset], scale), start, months, seed, say)
    faults = quality_faults_module.inject(w, stream(seed, "quality_faults")) if quality_faults else None
    plan = delivery_plan(w)
    run = Run(w, landing, Injector(seed, defect_rate), layout_variants(plan, seed), say)
    files = {d.name: write_file(run, d) for d in plan}
    bad: dict[str, dict] = {}
    if defect_rate > 0:
        extra, bad = bad_files(landing, w.as_of)
        for d in extra:
            entry = write_file(run, d)
            if d.role == "superseding":
                first = Delivery(d.code, d.as_of, d.since).name
                files[first]["superseded_by"], entry["supersedes"] = d.name, first
                files[d.name] = entry
            elif d.role == "truncated":
                bad[d.name]["rows"] = truncate(landing / d.name)
            else:
                bad[d.name]["rows"] = entry["rows"]
                if d.role == "undecodable":
                    garble(landing / d.name)
    late = set_arrival_times(landing, [*files, *bad], seed)
    report = _report(w, preset, start, months, seed, defect_rate, files, bad)
    report["scale"] = scale
    report["late_files"] = late
    if faults is not None:
        report["quality_faults"] = faults
    return report


def _report(w, preset, start, months, seed, defect_rate, files, bad) -> dict:
    defects = {rule: 0 for rule in RULES}
    for entry in files.values():
        for rule, n in entry["defects"].items():
            defects[rule] += n
    sources = {s.code: sorted(n for n, e in files.items() if e["source"] == s.code) for s in reg.SOURCES}
    return {
        "preset": preset, "start": start.isoformat(), "months": months, "seed": seed, "defect_rate": defect_rate,
        "as_of_dates": [d.isoformat() for d in w.as_of],
        "files": files, "bad_files": bad, "sources": sources, "defects": defects,
        "totals": {
            "files": len(files) + len(bad),
            "rows": sum(e["rows"] for e in files.values()),
            "bad_rows": sum(sum(e["bad_rows"].values()) for e in files.values()),
            "duplicates": sum(e["duplicates"] for e in files.values()),
            "warnings": sum(sum(e["warnings"].values()) for e in files.values()),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.synthetic",
        description="Write a deterministic synthetic landing folder with extracts of all fourteen "
                    "sources (see shared/spec/extracts.md), with defects injected at a given rate.",
    )
    parser.add_argument("--landing-dir", type=Path, required=True, help="folder to write the files into")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo",
                        help="demo: ~20,000 residents, ~45 births a month (default); "
                             "district: ~2.65 million residents, 20,000 births a year; "
                             "quality: ~60,000 residents, ~300 births a month (for the quality checks)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1),
                        help="first month delivered, YYYY-MM-DD (default 2026-01-01)")
    parser.add_argument("--months", type=int, default=6, help="months delivered, one file per month "
                        "(quarterly sources: per quarter end) (default 6)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the preset's population and yearly counts (births, marriages, hotels, "
                             "points) by this factor, e.g. 0.1 for a tenth of the district preset's rows "
                             "(default 1)")
    parser.add_argument("--seed", type=int, default=20261128, help="random seed; same seed, same bytes")
    parser.add_argument("--defect-rate", type=float, default=0.01,
                        help="share of rows damaged (default 0.01); 0 writes no bad rows and no bad files")
    parser.add_argument("--report", type=Path, help="also write the report (what was written and "
                        "injected, per file) as JSON here; keep it outside the landing folder")
    parser.add_argument("--quality-faults", action="store_true",
                        help="also inject faults that only the quality checks find: one town-month's births "
                             "four times over, a fifth of a town's newborns never registered by the police, "
                             "15%% of a town's WCBA files gone from the newest snapshot (written in the report)")
    parser.add_argument("--quiet", action="store_true", help="do not print progress")
    args = parser.parse_args(argv)
    report = generate(args.landing_dir, preset=args.preset, start=args.start, months=args.months,
                      seed=args.seed, defect_rate=args.defect_rate, quality_faults=args.quality_faults,
                      scale=args.scale, progress=None if args.quiet else lambda m: print(m, flush=True))
    if args.report:
        args.report.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    t = report["totals"]
    print(f"{t['files']} files, {t['rows']:,} rows, {t['bad_rows']:,} bad rows, {t['duplicates']:,} duplicates, "
          f"{t['warnings']:,} row warnings, {len(report['bad_files'])} bad files in {args.landing_dir}")
    for fault, where in report.get("quality_faults", {}).items():
        print(f"quality fault {fault}: {where}")
    return 0

