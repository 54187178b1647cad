"""Command line: the pipeline for a person at a terminal.

    python -m include.cli demo       the whole pipeline, end to end, in a real Airflow (--verbose:
                                     all its output on the terminal, not only a line per stage)
    python -m include.cli summary    print the published figures and the deliveries
    python -m include.cli report --out DIR
                                     write the commission's report site (DIR/index.html)
    python -m include.cli rollback   restore the previous publication of the marts
    python -m include.cli lineage fp_rate_floating 310112101 2026-Q1
                                     trace a published figure to its publication, models and files
    python -m include.cli rebuild 3  rebuild publication 3 from the kept raw data and compare
    python -m include.cli followup   the data-quality items to follow up (KEY --set explained: set a status)
    python -m include.cli generate   write a synthetic landing folder (see --help)

Environment: WAREHOUSE_URL (else `demo` starts an embedded PostgreSQL under .warehouse/),
LANDING_DIR (else `demo` generates one under .demo/), REPORTING_START (a date),
FPWH_LOG_LEVEL (INFO; DEBUG also makes `demo` verbose),
FPWH_SMTP_URL or Airflow connection fp_smtp (else `demo` files alerts in .demo/outbox/),
FPWH_PSEUDONYM_KEY or FPWH_PSEUDONYM_KEY_FILE (else `demo` creates .secrets/pseudonym.key),
FPWH_<ROLE>_PASSWORD or FPWH_<ROLE>_PASSWORD_FILE, the roles' login users (LOADER, TRANSFORMER,
BI_READER, AUDITOR; else `demo` on its embedded server writes them under .secrets/).
FPWH_REPORT_DIR (where the DAG and `report` write the site, else .reports/).
Each command works as the role whose work it is: rollback, summary, report and rebuild as the
transformer, followup too, lineage as the auditor (include/warehouse/roles.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from include import config
from include.warehouse import connection, roles

log = logging.getLogger("fpwh")


def demo(args: argparse.Namespace) -> int:
    from include.demo import run

    return run.demo(verbose=args.verbose)


def summary(_args: argparse.Namespace) -> int:
    from include import tasks

    print(tasks.report())
    return 0


def report(args: argparse.Namespace) -> int:
    from include import tasks

    index = tasks.write_report(args.out)
    print(f"report written: {index} (open it in a browser; `make docs` serves .reports/ under /report/)")
    return 0


def rollback(_args: argparse.Namespace) -> int:
    from include.publish import publish

    with connection.connect(roles.url(roles.TRANSFORMER_ROLE)) as conn:
        result = publish.rollback(conn)
    print(f"rolled back: marts now hold the previous publication (audit row {result['publication_id']})")
    return 0


def lineage(args: argparse.Namespace) -> int:
    from include.publish import audit

    with connection.connect(roles.url(roles.AUDITOR_ROLE)) as conn:
        print(audit.trace(conn, args.indicator, args.org, args.period))
    return 0


def rebuild(args: argparse.Namespace) -> int:
    """Rebuild the marts of a past publication from the kept raw data, into the candidate
    schema (not published), and compare their contents with what was published."""
    from include.publish import audit, publish, retention
    from include.transform import dbt

    url = roles.url(roles.TRANSFORMER_ROLE)
    dbt.prepare()  # the warehouse's structure as this version defines it (audit.raw_archive among it)
    with connection.connect(url) as conn:
        inputs = audit.publication_inputs(conn, args.publication_id)
        archived = retention.archived_months_read(conn, inputs)
    if archived:
        print(f"publication {args.publication_id} cannot be rebuilt now: it read raw months that retention archived "
              f"({', '.join(map(str, archived))}); restore them first, e.g. python -m include.cli retention "
              f"--restore {archived[0].source_code} {archived[0].month:%Y-%m}")
        return 2
    print(f"rebuilding publication {args.publication_id} with {inputs}")
    dbt.build(url, inputs=inputs)
    with connection.connect(url) as conn:
        matches = audit.rebuild_matches(conn, args.publication_id, publish.CANDIDATE)
    for table, same in matches.items():
        print(f"  {table:<24} {'identical' if same else 'DIFFERENT'}")
    return 0 if all(matches.values()) else 1


def retain(args: argparse.Namespace) -> int:
    """Detach (or list, or restore) months of raw snapshot history."""
    from datetime import date

    from include.publish import retention

    with connection.connect(config.warehouse_url()) as conn:  # the owner: it detaches partitions
        if args.restore:
            code, month = args.restore
            try:
                rows = retention.restore(conn, retention.Month(code, date.fromisoformat(f"{month}-01")))
            except (LookupError, ValueError) as bad:
                print(f"cannot restore {code} {month}: {bad}")
                return 1
            print(f"restored raw.{code} {month}: {rows:,} rows attached again")
            return 0
        months = args.months or config.raw_retention_months()
        plan = retention.plan(conn, months, retention.district_today())
        print(f"keeping {months} months of raw snapshot history: months before {plan.cutoff:%Y-%m} are old")
        for month, why in plan.needed.items():
            print(f"  kept      {month}: {'; '.join(why)}")
        for month in plan.detach:
            print(f"  {'detach' if args.apply else 'would detach'}  {month}")
        if not plan.detach:
            print("nothing to detach" + (" (old months are still read by kept publications, above)"
                                         if plan.needed else ""))
            return 0
        if not args.apply:
            print(f"{len(plan.detach)} months would be detached into raw_archive: run again with --apply")
            return 0
        done = retention.archive(conn, plan.detach)
    print(f"detached {len(done)} months ({sum(rows for _, rows in done):,} rows) into raw_archive; "
          "recorded in audit.raw_archive")
    return 0


def generate(args: argparse.Namespace) -> int:
    from include import synthetic

    return synthetic.main(args.extra)


def followup(args: argparse.Namespace) -> int:
    """List the follow-up items, or set one's status."""
    import getpass

    from include.errors import UnknownFollowup
    from include.notify import followups
    from include.notify.templates import beijing_time

    with connection.connect(roles.url(roles.TRANSFORMER_ROLE)) as conn:
        if args.key:
            try:
                done = followups.set_status(conn, args.key, args.set, args.note, getpass.getuser())
            except UnknownFollowup as unknown:
                print(unknown)
                return 1
            print(f"{done['status']}: {done['subject']}")
            return 0
        listed = followups.items(conn, args.unit, args.status, current_only=not args.all)
    for item in listed:
        seen = f"{beijing_time(item['first_seen_at'])} – {beijing_time(item['last_seen_at'])}"
        note = f"（{item['status_note']}）" if item["status_note"] else ""
        print(f"[{item['status']}] {item['lead_unit'] or '—'} · {item['subject']}{note}")
        print(f"    {seen}  {item['item_key']}")
    print(f"{len(listed)} items" + ("" if listed else ": nothing to follow up"))
    return 0


def airflow_pools(args: argparse.Namespace) -> int:
    from include import tasks

    text = json.dumps(tasks.airflow_pools(), indent=2, ensure_ascii=False) + "\n"
    if args.file == "-":
        sys.stdout.write(text)
    else:
        Path(args.file).write_text(text, encoding="utf-8")
        print(f"wrote {args.file}: import it with `airflow pools import {args.file}`")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser(
        "demo", help="run the whole pipeline end to end and print the summary",
        description="A line per stage, the published figures last; the full output goes to a log file under "
                    ".demo/logs/ (the last line names it).")
    run_demo.add_argument("--verbose", action="store_true",
                          help="everything on the terminal as it comes (Airflow, dbt, GX...), no log file; "
                               "FPWH_LOG_LEVEL=DEBUG does the same")
    run_demo.set_defaults(func=demo)
    commands.add_parser("summary", help="print the published figures and the deliveries").set_defaults(func=summary)
    site = commands.add_parser(
        "report", help="write the commission's report site of the newest publication (DIR/index.html)",
        description="Write the commission's report: a static HTML site of the newest publication (the town "
                    "scorecard against the plan's targets, each indicator's trend by month for the district and "
                    "each town, the sex ratio at birth with its Wilson interval, data quality and timeliness, and "
                    "each figure's lineage). Every script and font it needs is written into the folder: open "
                    "DIR/index.html from disk, serve it, or print it (A4 landscape) for the commission's meeting. "
                    "Reads the published marts as the transformer role (WAREHOUSE_URL, FPWH_TRANSFORMER_*).")
    site.add_argument("--out", metavar="DIR", default=None,
                      help="folder to write (created if missing; default: FPWH_REPORT_DIR, else .reports/)")
    site.set_defaults(func=report)
    follow = commands.add_parser(
        "followup", help="list the data-quality items to follow up, or set one's status",
        description="The follow-up list (marts.quality_followups): every outlier, failed consistency check or "
                    "source pair and blocked or warned gate check, with its lead unit and when it was first and "
                    "last seen. Without KEY: list the items the latest run found (--all: every item ever). "
                    "With KEY and --set: mark it open, explained (a reason is known: the digests leave it out "
                    "while it is unchanged) or corrected (fixed at the source: seen again, it opens again).",
        epilog="example: python -m include.cli followup 'quality_outlier|newborn_screening_rate|denominator|"
               "310112006|2026-05-01' --set explained --note '5 月份出生数据重复报送，已核实'")
    follow.add_argument("key", nargs="?", help="the item's key, as the list shows it")
    follow.add_argument("--set", choices=("open", "explained", "corrected"), help="the status to set (with KEY)")
    follow.add_argument("--note", help="why (with --set): kept with the status")
    follow.add_argument("--unit", help="only the items of this lead unit, e.g. 区卫生局")
    follow.add_argument("--status", choices=("open", "explained", "corrected"), help="only items with this status")
    follow.add_argument("--all", action="store_true", help="every item ever seen, not only the latest run's")
    follow.set_defaults(func=followup)
    pools = commands.add_parser(
        "airflow-pools", help="write the Airflow pools the DAGs use, for `airflow pools import FILE`",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The load tasks take a slot of the pool fpwh_warehouse_loads: files load in parallel,\n"
                    "at most its slots at once (FPWH_LOAD_SLOTS, default 2: the warehouse's cores).\n"
                    "A scheduler never runs a task whose pool is missing, so a deployment imports\n"
                    "this file once (and again after changing FPWH_LOAD_SLOTS).",
        epilog="example: python -m include.cli airflow-pools pools.json && airflow pools import pools.json")
    pools.add_argument("file", nargs="?", default="-", help="where to write the JSON (default: standard output)")
    pools.set_defaults(func=airflow_pools)
    commands.add_parser("rollback", help="restore the previous publication").set_defaults(func=rollback)
    trace = commands.add_parser("lineage", help="trace a published figure to its publication, models and files")
    trace.add_argument("indicator", help="indicator code, e.g. fp_rate_floating")
    trace.add_argument("org", help="org code: 310112 or a 9-digit town code")
    trace.add_argument("period", help="period label: 2026-03, 2026-Q1 or 2026")
    trace.set_defaults(func=lineage)
    again = commands.add_parser("rebuild", help="rebuild a past publication from the raw data and compare")
    again.add_argument("publication_id", type=int)
    again.set_defaults(func=rebuild)
    keep = commands.add_parser(
        "retention", help="detach raw snapshot months older than FPWH_RAW_RETENTION_MONTHS (a dry run without --apply)",
        description="Snapshot sources keep a raw partition per as-of month. Months older than the retention "
                    "window are detached into the schema raw_archive (nothing is deleted), except those a kept "
                    "publication reads: the one the marts hold, the one rollback restores, those made within the "
                    "window, and the next build. Those are listed as kept, with the reason. --restore attaches "
                    "an archived month again (a rebuild of a publication that read it refuses until then). As "
                    "the warehouse's owner (WAREHOUSE_URL).")
    keep.add_argument("--months", type=int, help="months to keep (default FPWH_RAW_RETENTION_MONTHS, else 24)")
    keep.add_argument("--apply", action="store_true", help="detach them (without it: only list what would go)")
    keep.add_argument("--restore", nargs=2, metavar=("SOURCE", "YYYY-MM"), help="attach an archived month again")
    keep.set_defaults(func=retain)
    # the generator's own options (and its --help) pass through to it
    commands.add_parser("generate", help="write a synthetic landing folder (options: generate --help)",
                        add_help=False).set_defaults(func=generate)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "generate":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if args.command == "followup" and bool(args.key) != bool(args.set):
        parser.error("followup: give KEY and --set together (or neither, to list the items)")
    try:
        level = config.log_level()
    except RuntimeError as bad:
        parser.error(str(bad))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
