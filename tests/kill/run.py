"""The kill test (`make kill-test`): the demo pipeline killed with SIGKILL at two stages, then
run again until it converges.

On a small synthetic landing folder, with an Airflow home, an SMTP sink and two warehouse
databases of its own:

  reference   `python -m include.cli demo` uninterrupted, into the reference database;
  kill 1      the demo again, into the test database, killed (SIGKILL to its whole process
              group) in the middle of loading a file: files committed before, one file's
              load transaction open with rows written to its raw table;
  kill 2      the demo again, killed inside the publish transaction: it holds the schema lock
              and has swapped the candidate in (this script holds a lock on a candidate table,
              so the publication waits on it, and kills only a waiter that holds the schema
              lock: nothing else does);
  recovery    the demo once more, to the end.

Then: the published marts equal the reference's (content hashes, table by table), every
delivered file is in the ledger once with the reference's counts, every row is loaded or
quarantined once (the ledger reconciles with the raw tables and the quarantine), no
candidate schema is left, and no Airflow run is left running or queued. Each stage is told
as it happens. Everything is stopped by its PID and the databases dropped at the end.

    python -m tests.kill.run [--keep] [--months 2] [--server-url URL]

Exit code 0 when every check passed. A plain script, not a pytest module (see tests/stack/).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from include.contract import registry  # noqa: E402
from include.publish import hashes  # noqa: E402
from include.warehouse import connection  # noqa: E402
from tests.checks import Checks, Fatal  # noqa: E402

STARTED = time.monotonic()
FIRST_MONTH = date(2026, 1, 1)
SCHEMA_LOCK = "hashtext('fpwh_schema')"  # include/warehouse/schema.py's lock
POLL = 0.05  # s between looks at the database while waiting for a stage


def say(message: str) -> None:
    print(f"[kill {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.kill.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--server-url", default=os.environ.get("KILL_TEST_SERVER_URL")
                   or "postgresql://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server for the two warehouse databases (default: KILL_TEST_SERVER_URL, "
                        "else postgres@127.0.0.1:5432)")
    p.add_argument("--months", type=int, default=2, help="months of synthetic deliveries (default 2)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--stage-timeout", type=float, default=300, help="seconds to wait for a stage to be reached")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder (demo logs, landing, outbox)")
    return p.parse_args(argv)


# ---- one demo process -----------------------------------------------------------------------


class Demo:
    """`python -m include.cli demo --verbose` in a process group of its own, its whole output (the
    stage lines and the loader's and dbt's logs the checks read) in a file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "include.cli", "demo", "--verbose"], env=env, cwd=ROOT,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        say(f"{name}: started the demo, PID {self.process.pid} (process group {self.process.pid}), "
            f"output in {log_path.name}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        killed = time.monotonic()
        self.process.wait()
        self.log.close()
        while (left := self.group()) and time.monotonic() - killed < 10:  # the dead are reaped by init
            time.sleep(0.1)
        say(f"{self.name}: SIGKILL sent to process group {self.process.pid} after "
            f"{killed - self.started:.1f} s; processes of the group left: {left or 'none'}")
        if left:
            raise Fatal(f"{self.name}: processes {left} of the killed group are still alive")

    def group(self) -> list[str]:
        """The live (not zombie) processes of the demo's process group."""
        ps = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
        return [pid for pid, pgid, stat in (line.split() for line in ps.splitlines())
                if pgid == str(self.process.pid) and not stat.startswith("Z")]

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Fatal(f"{self.name}: the demo did not end within {timeout:.0f} s") from None
        self.log.close()
        say(f"{self.name}: the demo ended with exit code {code} in {time.monotonic() - self.started:.1f} s")
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive():
            self.kill()


# ---- the scenario ----------------------------------------------------------------------------


class KillTest:
    def __init__(self, args: argparse.Namespace, checks: Checks) -> None:
        self.args = args
        self.checks = checks
        self.scratch = Path(tempfile.mkdtemp(prefix="fpwh-kill-"))
        self.landing = self.scratch / "landing"
        self.home = self.scratch / "airflow"
        tag = uuid.uuid4().hex[:8]
        self.reference_db, self.test_db = f"fpwh_kill_{tag}_reference", f"fpwh_kill_{tag}_test"
        self.created: list[str] = []
        self.mailbox = None
        self.demos: list[Demo] = []
        self.key = secrets.token_hex(32)

    def url(self, name: str) -> str:
        return connection.with_database(self.args.server_url, name)

    # -- setup --

    def setup(self) -> None:
        from include import synthetic
        from include.demo import outbox

        say(f"scratch folder {self.scratch}")
        synthetic.generate(self.landing, preset="demo", start=FIRST_MONTH, months=self.args.months,
                           seed=self.args.seed, defect_rate=0.01)
        self.files = sorted(p.name for p in self.landing.iterdir())
        say(f"landing folder: {len(self.files)} files, {self.args.months} months of the demo preset")
        with psycopg.connect(self.args.server_url, autocommit=True) as conn:
            for name in (self.reference_db, self.test_db):
                conn.execute(f'create database "{name}"')
                self.created.append(name)
        say(f"databases: reference {self.reference_db}, test {self.test_db}")
        self.mailbox = outbox.start(self.scratch / "outbox")
        say(f"SMTP sink {self.mailbox.url}; Airflow home (SQLite metadata) {self.home}")

    def env(self, database: str) -> dict[str, str]:
        dropped = ("AIRFLOW", "OPENLINEAGE", "FPWH_", "GX_", "DBT_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)
               and k not in ("WAREHOUSE_URL", "LANDING_DIR", "REPORTING_START", "PYTHONPATH")}
        return env | {
            "AIRFLOW_HOME": str(self.home),
            "PYTHONPATH": str(ROOT),
            "WAREHOUSE_URL": self.url(database),
            "LANDING_DIR": str(self.landing),
            "REPORTING_START": FIRST_MONTH.isoformat(),
            "FPWH_PSEUDONYM_KEY": self.key,  # one key for both databases: the same pseudonyms
            "FPWH_SMTP_URL": self.mailbox.url,
            "OPENLINEAGE_DISABLED": "true",
        }

    def demo(self, name: str, database: str) -> Demo:
        run = Demo(name, self.env(database), self.scratch / f"{name.replace(' ', '-')}.log")
        self.demos.append(run)
        return run

    # -- looking at the test database --

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url(self.test_db)) as conn:
            return conn.execute(sql, params).fetchall()

    def ledger_rows(self) -> int:
        found = self.query("select to_regclass('ingest.file_ledger') is not null")[0][0]
        return self.query("select count(*) from ingest.file_ledger")[0][0] if found else 0

    def loading(self) -> list[tuple]:
        """(pid, raw table) of backends with a transaction open that has written to a raw table."""
        return self.query(
            "select distinct a.pid, c.relname from pg_locks l join pg_class c on c.oid = l.relation "
            "join pg_namespace n on n.oid = c.relnamespace join pg_stat_activity a on a.pid = l.pid "
            "where n.nspname = 'raw' and l.mode = 'RowExclusiveLock' and l.granted and a.datname = %s "
            "and a.xact_start is not null", (self.test_db,))

    def dag_runs(self) -> list[tuple[str, str, str]]:
        """(dag_id, run_id, state) of every run in the Airflow metadata."""
        with sqlite3.connect(self.home / "airflow.db") as meta:
            return meta.execute("select dag_id, run_id, state from dag_run order by id").fetchall()

    def task_states(self, run_id: str) -> dict[str, int]:
        with sqlite3.connect(self.home / "airflow.db") as meta:
            rows = meta.execute("select coalesce(state, 'none'), count(*) from task_instance where run_id = ? "
                                "group by 1", (run_id,)).fetchall()
        return dict(rows)

    # -- the stages --

    def reference(self) -> None:
        print("\n== reference: the demo, uninterrupted, into the reference database ==", flush=True)
        run = self.demo("reference", self.reference_db)
        self.checks.require("reference run: the demo succeeded", run.wait(self.args.stage_timeout) == 0,
                            run.output()[-3000:])

    def kill_while_loading(self) -> None:
        print("\n== kill 1: in the middle of loading a file ==", flush=True)
        run = self.demo("kill 1", self.test_db)
        deadline = time.monotonic() + self.args.stage_timeout
        while True:
            if not run.alive():
                raise Fatal(f"kill 1: the demo ended before the stage was reached:\n{run.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise Fatal("kill 1: no file load caught in the middle in time")
            committed = self.ledger_rows()
            loading = self.loading() if committed >= 2 else []
            if loading:
                break
            time.sleep(POLL)
        say(f"kill 1: {committed} files committed to the ledger; backend {loading[0][0]} has a load transaction "
            f"open with rows written to raw.{loading[0][1]}: killing")
        run.kill()
        time.sleep(1)
        self.checks.check("kill 1: the open load left nothing (the ledger holds only what had committed)",
                          self.ledger_rows() == committed, f"{self.ledger_rows()} ledger rows, {committed} before")
        self.checks.check("kill 1: no raw or quarantined row without its ledger row", self.orphan_rows() == 0,
                          f"{self.orphan_rows()} rows")
        dead = [r for r in self.dag_runs() if r[2] == "running"]
        self.checks.check("kill 1: the killed demo's fp_ingest run is left 'running' in Airflow's metadata",
                          [r[0] for r in dead] == ["fp_ingest"],
                          "; ".join(f"{d} {r}: {self.task_states(r)}" for d, r, _ in dead) or "none")

    def kill_while_publishing(self) -> None:
        print("\n== kill 2: inside the publish transaction ==", flush=True)
        run = self.demo("kill 2", self.test_db)
        deadline = time.monotonic() + self.args.stage_timeout
        while not self.gate_done():
            if not run.alive():
                raise Fatal(f"kill 2: the demo ended before the quality gate did:\n{run.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise Fatal("kill 2: the quality gate did not finish in time")
            time.sleep(POLL * 4)
        table = self.query("select min(tablename) from pg_tables where schemaname = 'candidate'")[0][0]
        say(f"kill 2: the quality gate has recorded its results; holding a lock on candidate.{table}, which "
            "the publication reads once it has swapped the candidate in")
        waiter = self.hold_until_publication_waits(run, table, deadline)
        say(f"kill 2: backend {waiter[0]} holds the schema lock and waits on the table inside its transaction "
            f"(now {waiter[1]!r}): killing")
        run.kill()
        time.sleep(1)
        self.checks.check("kill 2: the publication left nothing: no marts schema, no publication recorded",
                          not self.schema_exists("marts")
                          and self.query("select count(*) from audit.publications")[0][0] == 0)
        self.checks.check("kill 2: the candidate schema it was publishing is left behind (stale)",
                          self.schema_exists("candidate"))
        out = run.output()
        self.checks.check("kill 2: before its runs, the demo marked the dead fp_ingest run failed, in one line",
                          sum("marked failed" in line and "fp_ingest" in line for line in out.splitlines()) == 1,
                          next((line for line in out.splitlines() if "marked failed" in line), "no such line")[:300])
        dead = [r for r in self.dag_runs() if r[2] == "running"]
        self.checks.check("kill 2: the killed demo's fp_transform run is left 'running'",
                          [r[0] for r in dead] == ["fp_transform"],
                          "; ".join(f"{d} {r}: {self.task_states(r)}" for d, r, _ in dead) or "none")

    def gate_done(self) -> bool:
        found = self.query("select to_regclass('audit.quality_results') is not null")[0][0]
        return bool(found and self.query("select count(*) from audit.quality_results")[0][0])

    def hold_until_publication_waits(self, run: Demo, table: str, deadline: float) -> tuple[int, str]:
        """Hold an exclusive lock on candidate.<table> until a backend that holds the schema lock
        waits on it: the publication, after its swap. Another waiter (none is expected) makes
        this let go for a moment and take the lock again."""
        while True:
            with psycopg.connect(self.url(self.test_db)) as holder:
                holder.execute(f'lock table candidate."{table}" in access exclusive mode')
                oid = holder.execute("select %s::regclass::oid", (f'candidate."{table}"',)).fetchone()[0]
                while True:
                    if not run.alive():
                        raise Fatal(f"kill 2: the demo ended before it published:\n{run.output()[-3000:]}")
                    if time.monotonic() > deadline:
                        raise Fatal("kill 2: the publication never waited on the table")
                    waiters = self.query(
                        "select w.pid, a.query, exists (select 1 from pg_locks s where s.pid = w.pid and s.granted "
                        f"and s.locktype = 'advisory' and s.objid = ({SCHEMA_LOCK})::oid) "
                        "from pg_locks w join pg_stat_activity a on a.pid = w.pid "
                        "where w.relation = %s and not w.granted", (oid,))
                    if any(w[2] for w in waiters):
                        return next((w[0], w[1][:80]) for w in waiters if w[2])
                    if waiters:
                        say(f"kill 2: backend {waiters[0][0]} waits on the table outside a publication "
                            f"({waiters[0][1][:60]!r}): letting it pass")
                        break
                    time.sleep(POLL)
            time.sleep(0.5)

    def recover(self) -> None:
        print("\n== recovery: the demo again, to the end ==", flush=True)
        run = self.demo("recovery", self.test_db)
        code = run.wait(self.args.stage_timeout)
        out = run.output()
        self.checks.require("recovery: the demo succeeded", code == 0, out[-3000:])
        self.checks.check("recovery: it marked the dead fp_transform run failed, in one line",
                          sum("marked failed" in line and "fp_transform" in line for line in out.splitlines()) == 1,
                          next((line for line in out.splitlines() if "marked failed" in line), "no such line")[:300])
        self.checks.check("recovery: its build dropped the stale candidate schema and said so",
                          "dropped the candidate schema an earlier build left" in out)

    # -- what it converged to --

    def schema_exists(self, name: str, database: str | None = None) -> bool:
        with psycopg.connect(self.url(database or self.test_db)) as conn:
            return hashes.schema_exists(conn, name)

    def orphan_rows(self) -> int:
        if not self.query("select to_regclass('ingest.file_ledger') is not null")[0][0]:
            return 0
        tables = [s.raw_table for s in registry.SOURCES] + ["ingest.quarantine"]
        column = {t: "file_id" if t == "ingest.quarantine" else "_file_id" for t in tables}
        return sum(self.query(f"select count(*) from {t} x where not exists (select 1 from ingest.file_ledger l "
                              f"where l.file_id = x.{column[t]})")[0][0] for t in tables)

    def converged(self) -> None:
        print("\n== converged? ==", flush=True)
        with psycopg.connect(self.url(self.reference_db)) as ref, psycopg.connect(self.url(self.test_db)) as test:
            want, got = marts_hashes(ref), marts_hashes(test)
            differing = sorted(t for t in set(want) | set(got) if want.get(t) != got.get(t))
            keyed = sorted(t for t in want if t in surrogate_keyed(ref))
            self.checks.check("the published marts equal the reference run's (content hash of every table)",
                              want and not differing,
                              f"{len(want)} tables" + (f"; differ: {differing}" if differing else "")
                              + (f"; {', '.join(keyed)} hashed without file_id, the ledger's surrogate key (a killed "
                                 "load's rolled-back insert used up a sequence number)" if keyed else ""))
            ledger_sql = ("select file_name, status, rows_read, rows_loaded, rows_quarantined, rows_duplicate "
                          "from ingest.file_ledger order by file_name")
            ledger, reference = test.execute(ledger_sql).fetchall(), ref.execute(ledger_sql).fetchall()
            names = [r[0] for r in ledger]
            self.checks.check("every delivered file is in the ledger exactly once",
                              sorted(names) == self.files and len(set(names)) == len(names),
                              f"{len(names)} ledger rows, {len(set(names))} names, {len(self.files)} files")
            self.checks.check("the ledger's counts are the reference run's, file by file", ledger == reference,
                              f"{sum(a != b for a, b in zip(ledger, reference, strict=False))} files differ")
            self.checks.check("every row loaded or quarantined once: the ledger reconciles with the raw tables "
                              "and the quarantine", not (bad := unreconciled(test)), "; ".join(bad[:5]) or
                              f"{sum(r[2] or 0 for r in ledger)} rows read")
            publications = test.execute("select action from audit.publications").fetchall()
            self.checks.check("one publication", publications == [("publish",)], str(publications))
        self.checks.check("no orphan raw or quarantine row", self.orphan_rows() == 0)
        self.checks.check("no candidate schema left", not self.schema_exists("candidate"))
        runs = self.dag_runs()
        unfinished = [r for r in runs if r[2] not in ("success", "failed")]
        open_tis = {r[1]: s for r in runs if (s := {k: n for k, n in self.task_states(r[1]).items()
                                                    if k not in ("success", "failed", "skipped",
                                                                 "upstream_failed", "removed")})}
        self.checks.check("no Airflow run left running or queued, no task instance left unfinished",
                          not unfinished and not open_tis,
                          "; ".join(f"{d} {r} {s}" for d, r, s in runs) + (f"; open: {open_tis}" if open_tis else ""))
        dead = [r for r in runs if r[2] == "failed"]
        self.checks.check("the two killed runs are marked failed, with their task instances",
                          sorted(r[0] for r in dead) == ["fp_ingest", "fp_transform"],
                          "; ".join(f"{d} {r}: {self.task_states(r)}" for d, r, _ in dead))

    # -- teardown --

    def teardown(self) -> None:
        for run in self.demos:
            run.stop()
        if self.mailbox is not None:
            self.mailbox.stop()
        with psycopg.connect(self.args.server_url, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'drop database if exists "{name}" with (force)')
        if self.created:
            say(f"dropped databases {', '.join(self.created)}")
        if self.args.keep:
            say(f"kept {self.scratch}")
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)


def surrogate_keyed(conn) -> set[str]:
    """Marts tables with a file_id column: the ledger's bigserial, which a rolled-back load
    advances, so two equal histories may number their files apart (file_name is beside it)."""
    return {t for (t,) in conn.execute("select table_name from information_schema.columns "
                                       "where table_schema = 'marts' and column_name = 'file_id'")}


def marts_hashes(conn) -> dict[str, str]:
    """hashes.content_hashes of the marts, those of surrogate_keyed tables over their rows without file_id."""
    digests = hashes.content_hashes(conn, "marts")
    for table in surrogate_keyed(conn):
        digests[table] = conn.execute(
            "select md5(coalesce(string_agg(r, E'\\n' order by r), '')) "
            f"from (select (to_jsonb(t) - 'file_id')::text as r from marts.\"{table}\" t) rows").fetchone()[0]
    return digests


def unreconciled(conn) -> list[str]:
    """Files whose ledger counts do not add up, or disagree with their raw and quarantine rows."""
    bad = []
    rows = conn.execute("select file_id, file_name, source_code, status, rows_read, rows_loaded, rows_quarantined, "
                        "rows_duplicate from ingest.file_ledger").fetchall()
    tables = {s.code: s.raw_table for s in registry.SOURCES}
    for file_id, name, source, status, read, loaded, quarantined, duplicate in rows:
        in_raw = conn.execute(f"select count(*) from {tables[source]} where _file_id = %s",
                              (file_id,)).fetchone()[0] if source in tables else 0
        in_quarantine = conn.execute("select count(*) from ingest.quarantine where file_id = %s",
                                     (file_id,)).fetchone()[0]
        if status == "rejected":
            if in_raw or in_quarantine:
                bad.append(f"{name}: rejected, yet {in_raw} raw and {in_quarantine} quarantined rows")
        elif read != loaded + quarantined + duplicate or in_raw != loaded or in_quarantine != quarantined:
            bad.append(f"{name}: read {read} = loaded {loaded} + quarantined {quarantined} + duplicate {duplicate}?"
                       f" raw {in_raw}, quarantine {in_quarantine}")
    return bad


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, _frame: (_ for _ in ()).throw(KeyboardInterrupt(signum)))
    checks = Checks()
    test = KillTest(args, checks)
    fatal: BaseException | None = None
    try:
        test.setup()
        test.reference()
        test.kill_while_loading()
        test.kill_while_publishing()
        test.recover()
        test.converged()
    except (Fatal, psycopg.Error, OSError, KeyboardInterrupt) as exc:
        fatal = exc
        print(f"\nSTOPPED: {type(exc).__name__}: {exc}", flush=True)
    finally:
        test.teardown()
    print("\n== checks ==")
    for name, ok, _ in checks.results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    failed = [r for r in checks.results if not r[1]]
    verdict = "PASSED" if not failed and fatal is None else "FAILED"
    print(f"\nkill test {verdict}: {len(checks.results) - len(failed)} of {len(checks.results)} checks passed "
          f"in {time.monotonic() - STARTED:.0f} s", flush=True)
    return 0 if verdict == "PASSED" else 1


if __name__ == "__main__":
    sys.exit(main())
