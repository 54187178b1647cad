"""Load one delivered file into its raw table: decode, validate, pseudonymize, COPY.

One transaction per file. Every delivered row ends loaded, quarantined (with every
reason) or counted as a duplicate, and the ledger row says how many of each; a file
that cannot be read as its source loads nothing and is recorded as rejected.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import filterfalse
from pathlib import Path
from typing import NamedTuple

import psycopg

from include import config
from include.contract import idnumber, registry
from include.errors import BadFile, BadFileName
from include.ingest import landing, readers
from include.ingest.cells import cell_text
from include.ingest.copytext import CopyRows
from include.ingest.fastpath import FastPath
from include.ingest.keyindex import KeyIndex
from include.ingest.readers import Batch
from include.ingest.validate import RowOutcome, RowValidator
from include.warehouse import partitions

log = logging.getLogger(__name__)

NUL_SHOWN = "\u2400"  # ␀: how a delivered NUL character is kept in a quarantined record (jsonb refuses U+0000)
KEY_CONFLICT = "another row of this file has the same key ({key}) but differs"


class LoadStatus(StrEnum):
    LOADED = "loaded"  # in the ledger, its rows loaded or quarantined
    REJECTED = "rejected"  # in the ledger, nothing loaded: the reason says why
    UNCHANGED = "unchanged"  # this name with these bytes was loaded before: nothing done
    DEFERRED = "deferred"  # not complete yet, or written to while it was loaded: taken again at a later run
    IGNORED = "ignored"  # not a delivery (a link, a folder, a hidden name): never read, the reason says why


@dataclass
class LoadResult:
    """What became of one landed file; passed between tasks as `to_dict()`."""

    file_name: str
    status: LoadStatus
    source_code: str | None = None
    file_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_warned: int = 0
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self) | {"status": self.status.value}

    @classmethod
    def from_dict(cls, values: dict) -> LoadResult:
        return cls(**(values | {"status": LoadStatus(values["status"])}))


# Row and key identity: Python's 64-bit hash of the text (SipHash, keyed per process), computed
# in C a batch at a time; both passes over a file (loading, then finding conflicting rows) run
# in one process.
_digest = hash


class CheckedRows(NamedTuple):
    """A batch's rows of the right width, with what the loader needs of each."""

    fit: list[int]  # their positions in the batch
    rows: list[list]  # the rows
    keys: list[str]  # per row, as RowOutcome.key
    contents: list[str]  # per row, as RowOutcome.content
    fields: list[str]  # per row the fast path vouched for, its COPY fields (else a placeholder)
    outcomes: dict[int, RowOutcome]  # validate's outcome of the other rows

    def outcome(self, j: int) -> RowOutcome:
        """Row j's outcome: validate's, or what the fast path vouched for (valid, no warnings)."""
        if j in self.outcomes:
            return self.outcomes[j]
        return RowOutcome(values=[], key=self.keys[j], content=self.contents[j], fields=self.fields[j])


def _shown_header(header: str) -> str:
    """A delivered header that is not the contract's, as a warning may repeat it: ID numbers
    masked, control characters as ␀, at most 40 characters (it could be anything)."""
    shown = "".join(NUL_SHOWN if not ch.isprintable() else ch for ch in idnumber.mask(header))
    return shown if len(shown) <= 40 else shown[:39] + "…"


# ---- loading ---------------------------------------------------------------------------


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Loading makes millions of short-lived lists and tuples (a list per CSV record) and no
    reference cycles; Python's cyclic garbage collector would spend about a tenth of the
    time scanning them. Paused while a file streams (reference counting still frees all)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class FileLoad:
    """The work of loading one file in one transaction.

    Rows are read, checked and sent in batches. A batch is checked by the fast path (CSV);
    the rows it cannot vouch for are validated one by one. A row that is valid and whose key
    is new (not seen before, not repeated in its batch) simply loads; every other row goes
    through the duplicate and conflict rules one by one, in file order."""

    def __init__(self, conn: psycopg.Connection, path: Path, delivery: landing.DeliveryName, pseudonymize):
        self.conn = conn
        self.path = path
        self.delivery = delivery
        self.src = delivery.source
        self.pseudonymize = pseudonymize
        self.result = LoadResult(landing.shown_name(path.name), LoadStatus.LOADED, self.src.code)
        self.quarantine: dict[int, tuple[dict, list[str]]] = {}
        self.warnings: list[tuple[int | None, str | None, str | None, str]] = []
        self.warned_rows: set[int] = set()
        self.duplicate_rows: set[int] = set()
        # key digest -> digest of the first row with that key, sized once for the whole file
        self.first_of_key = KeyIndex(expected_keys=readers.records_about(path))
        self.other_variants: set[tuple[int, int]] = set()  # later, differing rows of a key
        self.conflict_keys: dict[int, str] = {}  # key digest -> the key as it may be shown

    def _header(self, batches: Iterator[Batch]) -> None:
        try:
            header = next(batches).rows[0]
        except StopIteration:
            raise BadFile("is empty: it has no header row") from None
        positions, missing, extra = readers.header_positions(header, self.src)
        if missing:
            hint = " (is it encoded as the contract says?)" if len(missing) == len(self.src.columns) else ""
            raise BadFile(f"lacks required header(s) {', '.join(missing)}{hint}")
        if extra:
            shown = ", ".join(_shown_header(h) for h in extra)
            self.warnings.append((None, None, None, f"extra column(s) ignored: {shown}"))
        self.headers = [cell_text(h).replace("\x00", NUL_SHOWN) for h in header]
        self.validator = RowValidator(self.src, positions, self.delivery.as_of, self.pseudonymize)
        self.fast = FastPath(self.validator) if self.src.file_format == "csv" else None

    def run(self, file_id: int) -> None:
        batches = readers.read_batches(self.path, self.src)
        self._header(batches)
        raw_cols = [c.name for c in registry.raw_columns(self.src)]
        copy_sql = f"copy {self.src.raw_table} ({', '.join(raw_cols)}) from stdin"
        with _cyclic_gc_paused(), self.conn.cursor().copy(copy_sql) as copy:
            out = CopyRows(copy, file_id, self.conn.info.encoding)
            for batch in batches:
                self.result.rows_read += len(batch.rows)
                self._load_batch(batch, out)
                out.flush()
        if self.conflict_keys:
            with _cyclic_gc_paused():
                self._quarantine_conflicts(file_id)
        self._write_side_tables(file_id)

    def _fitting(self, batch: Batch) -> tuple[list[int], list[list]]:
        """The rows as wide as the header (the others are quarantined, not checked), and where
        they sit in the batch."""
        width = len(self.headers)
        if set(map(len, batch.rows)) == {width}:
            return list(range(len(batch.rows))), batch.rows
        fit = [i for i, cells in enumerate(batch.rows) if len(cells) == width]
        return fit, [batch.rows[i] for i in fit]

    def _check(self, batch: Batch) -> CheckedRows:
        fit, rows = self._fitting(batch)
        if self.fast is not None and rows:
            fast = self.fast.check(rows)
            keys, contents, fields, unsure = fast.keys, fast.contents, fast.fields, fast.unsure
        else:  # xlsx: row by row
            keys, contents, fields, unsure = [""] * len(rows), [""] * len(rows), [""] * len(rows), range(len(rows))
        outcomes = {}
        for j in unsure:
            outcomes[j] = outcome = self.validator.validate(rows[j])
            keys[j], contents[j] = outcome.key, outcome.content
        return CheckedRows(fit, rows, keys, contents, fields, outcomes)

    def _load_batch(self, batch: Batch, out: CopyRows) -> None:
        checked = self._check(batch)
        numbers = [batch.numbers[i] for i in checked.fit] if len(checked.fit) < len(batch.rows) else batch.numbers
        key_hashes = list(map(_digest, checked.keys))
        # identical means identical in the contract's columns; extra columns are ignored
        row_hashes = list(map(_digest, checked.contents))
        one_by_one = self._one_by_one(checked, key_hashes)
        plain = list(filterfalse(one_by_one.__contains__, range(len(key_hashes))))
        # Plain rows are valid and their keys new and apart from the others': they load, and
        # recording their keys before the others are looked at changes nothing for those.
        self.first_of_key.add_new(list(map(key_hashes.__getitem__, plain)), list(map(row_hashes.__getitem__, plain)))
        lines = out.lines_of(numbers, checked.fields)  # those of one-by-one rows are replaced below
        for j in sorted(one_by_one):  # in file order
            lines[j] = self._load_row(numbers[j], checked.rows[j], checked.outcome(j), key_hashes[j],
                                      row_hashes[j], out)
        out.lines += filter(None, lines) if one_by_one else lines
        if len(checked.fit) < len(batch.rows):
            self._quarantine_misfits(batch, checked.fit)

    def _quarantine_misfits(self, batch: Batch, fit: list[int]) -> None:
        for i in sorted(set(range(len(batch.rows))) - set(fit)):
            cells = batch.rows[i]
            reason = f"the row has {len(cells)} fields, the header has {len(self.headers)}"
            self._quarantine(batch.numbers[i], cells, [reason])

    def _one_by_one(self, checked: CheckedRows, key_hashes: list[int]) -> set[int]:
        """The fitting rows the duplicate and conflict rules must see one by one: those the fast
        path did not vouch for, and those whose key was seen before or repeats in the batch."""
        rows = set(checked.outcomes)
        rows.update(self.first_of_key.present(key_hashes))
        if len(set(key_hashes)) != len(key_hashes):
            counts = Counter(key_hashes)
            rows.update(j for j, h in enumerate(key_hashes) if counts[h] > 1)
        return rows

    def _load_row(self, row_number: int, cells: list, outcome: RowOutcome, key_hash: int, row_hash: int,
                  out: CopyRows) -> str | None:
        """The duplicate and conflict rules for one row: its COPY line if it loads, else None."""
        first = self.first_of_key.get(key_hash)
        if first is None:
            self.first_of_key.add(key_hash, row_hash)
        elif first == row_hash:  # identical to an earlier row: one row, reported as a duplicate
            self.duplicate_rows.add(row_number)
            return None
        else:  # same key, different content: all rows of the key are bad (found again below)
            self.conflict_keys.setdefault(key_hash, self.validator.pseudonymous_key(outcome.key))
            if (key_hash, row_hash) in self.other_variants:
                self.duplicate_rows.add(row_number)
                return None
            self.other_variants.add((key_hash, row_hash))
        if outcome.reasons:
            self._quarantine(row_number, cells, outcome.reasons)
            return None
        if outcome.warnings:
            self.warned_rows.add(row_number)
            row_key = self.validator.pseudonymous_key(outcome.key)
            self.warnings += [(row_number, row_key, h, w) for h, w in outcome.warnings]
        return out.line(row_number, outcome.fields, outcome.values)

    def _quarantine(self, row_number: int, cells: list[object], reasons: list[str]) -> None:
        headers = self.headers
        record = {h or f"column {i + 1}": cell_text(c) for i, (h, c) in enumerate(zip(headers, cells))}
        for i in range(len(headers), len(cells)):
            record[f"column {i + 1}"] = cell_text(cells[i])
        if any("\x00" in k or "\x00" in v for k, v in record.items()):  # jsonb cannot hold U+0000
            record = {k.replace("\x00", NUL_SHOWN): v.replace("\x00", NUL_SHOWN) for k, v in record.items()}
        self.quarantine[row_number] = (record, reasons)

    def _quarantine_conflicts(self, file_id: int) -> None:
        """Rows sharing a key but differing are all bad: find them again and move them out."""
        moved: list[int] = []
        for batch in readers.read_batches(self.path, self.src):
            fit, rows = self._fitting(batch)
            if not rows:
                continue
            keys = self.fast.keys(rows) if self.fast is not None else [self.validator.validate(r).key for r in rows]
            for i, key_hash in zip(fit, map(_digest, keys)):
                row_number = batch.numbers[i]
                if row_number == 1 or row_number in self.duplicate_rows or key_hash not in self.conflict_keys:
                    continue
                reason = KEY_CONFLICT.format(key=self.conflict_keys[key_hash])
                if row_number in self.quarantine:
                    self.quarantine[row_number][1].append(reason)
                else:
                    self._quarantine(row_number, batch.rows[i], [reason])
                    moved.append(row_number)
        if moved:
            self.conn.execute(
                f"delete from {self.src.raw_table} where _file_id = %s and _row_number = any(%s)",
                (file_id, moved),
            )
        self.warnings = [w for w in self.warnings if w[0] is None or w[0] not in self.quarantine]
        self.warned_rows -= set(self.quarantine)

    def _write_side_tables(self, file_id: int) -> None:
        with self.conn.cursor() as cur:
            with cur.copy("copy ingest.quarantine (file_id, row_number, record, reasons) from stdin") as copy:
                for row_number, (record, reasons) in sorted(self.quarantine.items()):
                    copy.write_row([file_id, row_number, json.dumps(record, ensure_ascii=False), reasons])
            warnings_copy = "copy ingest.row_warnings (file_id, row_number, row_key, column_name, warning) from stdin"
            with cur.copy(warnings_copy) as copy:
                for row in self.warnings:
                    copy.write_row([file_id, *row])
        r = self.result
        r.rows_quarantined = len(self.quarantine)
        r.rows_duplicate = len(self.duplicate_rows)
        r.rows_loaded = r.rows_read - r.rows_quarantined - r.rows_duplicate
        r.rows_warned = len(self.warned_rows)
        in_table = self.conn.execute(
            f"select count(*) from {self.src.raw_table} where _file_id = %s", (file_id,)
        ).fetchone()[0]
        if in_table != r.rows_loaded:  # a loader bug, never a data problem: refuse to commit
            raise RuntimeError(f"{self.result.file_name}: {in_table} rows in {self.src.raw_table}, "
                               f"expected {r.rows_loaded}")


# ---- one file, start to end ------------------------------------------------------------

_LEDGER_INSERT = """
insert into ingest.file_ledger (source_code, file_name, as_of_date, delivery_no, sha256, bytes, arrived_at,
    status, reason, started_at, finished_at, run_id)
values (%(source_code)s, %(file_name)s, %(as_of_date)s, %(delivery_no)s, %(sha256)s, %(bytes)s, %(arrived_at)s,
    %(status)s, %(reason)s, %(started_at)s, %(finished_at)s, %(run_id)s)
returning file_id
"""


def server_log_without_rows(conn: psycopg.Connection) -> None:
    """PostgreSQL logs an error's context, and a failed COPY's context quotes the delivered line:
    terse errors leave it out of the server log, for this session. (The loader role may set it:
    warehouse.schema grants it.)"""
    with conn.transaction():
        conn.execute("set log_error_verbosity = terse")


def load_file(conn: psycopg.Connection, path: Path, pseudonymize, run_id: str | None = None) -> LoadResult:
    """Load one landed file, unless this name was already loaded with the same bytes. The file
    goes by its shown name (`landing.shown_name`) in the ledger, the result and every message."""
    name = landing.shown_name(path.name)
    server_log_without_rows(conn)
    started = datetime.now(UTC)
    try:
        landed = landing.fingerprint(path)
    except OSError as exc:  # unreadable (permissions, an I/O error): rejected, tried again at the next run
        return _reject_unread(conn, path, name, exc, started, run_id)
    earlier = _ledger_rows(conn, name)
    conn.commit()
    if any(sha == landed.sha256 for sha, _ in earlier):
        return LoadResult(name, LoadStatus.UNCHANGED)
    ledger = {
        "source_code": None, "file_name": name, "as_of_date": None, "delivery_no": None,
        "sha256": landed.sha256, "bytes": landed.bytes, "arrived_at": landed.arrived_at,
        "status": LoadStatus.LOADED.value, "reason": None,
        "started_at": started, "finished_at": started, "run_id": run_id,
    }
    try:
        delivery = landing.parse_name(path.name)
    except BadFileName as exc:
        return _reject(conn, ledger, str(exc))
    ledger.update(source_code=delivery.source.code, as_of_date=delivery.as_of, delivery_no=delivery.delivery_no)
    loaded_before = [sha for sha, status in earlier if status == LoadStatus.LOADED]
    if loaded_before:
        return _reject(conn, ledger, f"{name}: a file of this name was already loaded (sha256 "
                                     f"{loaded_before[0]}) and now has other contents (sha256 {landed.sha256}); "
                                     "a corrected delivery must be named _2, _3, ...")

    partitions.ensure_partition(conn, delivery.source, delivery.as_of)
    work = FileLoad(conn, path, delivery, pseudonymize)
    try:
        with conn.transaction(), _database_errors_without_data(name):
            # Files load in parallel: one load of this name at a time, and if another one ended while
            # this one waited, what it left in the ledger decides (unchanged, or a changed name)
            conn.execute(_NAME_LOCK, (name,))
            if _ledger_rows(conn, name) != earlier:
                raise _LedgerMovedMeanwhile
            file_id = conn.execute(_LEDGER_INSERT, ledger).fetchone()[0]
            partitions.set_load_as_of(conn, delivery.as_of)
            work.run(file_id)
            if landed.changed(path):  # written to while it was read: keep nothing of it
                raise _ChangedWhileLoading
            r = work.result
            conn.execute(
                """update ingest.file_ledger set rows_read = %s, rows_loaded = %s, rows_quarantined = %s,
                   rows_duplicate = %s, rows_warned = %s, finished_at = %s where file_id = %s""",
                (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate, r.rows_warned,
                 datetime.now(UTC), file_id),
            )
    except _ChangedWhileLoading:
        return _defer(path)
    except _LedgerMovedMeanwhile:
        return load_file(conn, path, pseudonymize, run_id)
    except (BadFile, OSError) as exc:
        if landed.changed(path):  # truncated, say, because it was still being written
            return _defer(path)
        why = exc if isinstance(exc, BadFile) else _unreadable(exc)
        return _reject(conn, ledger, f"{name} {why}")
    work.result.file_id = file_id
    _log_result(work)
    return work.result


@contextmanager
def _database_errors_without_data(name: str) -> Iterator[None]:
    """A database error while loading (never a data problem: bad data is quarantined, a loader bug
    is not) is raised with its SQLSTATE and primary message only: PostgreSQL's context of a COPY
    error quotes the delivered line, with its ID numbers and names."""
    try:
        yield
    except psycopg.Error as exc:
        primary = exc.diag.message_primary or type(exc).__name__
        raise RuntimeError(f"{name}: the warehouse refused the load ({exc.sqlstate}: {idnumber.mask(primary)}); "
                           "nothing of the file was kept") from None


def _unreadable(exc: OSError) -> str:
    return f"cannot be read ({exc.strerror or type(exc).__name__}): it is tried again at the next run"


def _reject_unread(conn: psycopg.Connection, path: Path, name: str, exc: OSError, started: datetime,
                   run_id: str | None) -> LoadResult:
    """A file that cannot be opened: rejected, with what can be known of it without reading it."""
    try:
        size, arrived = landing.size_and_arrival(path)
    except OSError:
        size, arrived = 0, None
    ledger = {
        "source_code": None, "file_name": name, "as_of_date": None, "delivery_no": None,
        "sha256": None, "bytes": size, "arrived_at": arrived, "status": LoadStatus.REJECTED.value,
        "reason": None, "started_at": started, "finished_at": started, "run_id": run_id,
    }
    try:
        delivery = landing.parse_name(path.name)
        ledger.update(source_code=delivery.source.code, as_of_date=delivery.as_of, delivery_no=delivery.delivery_no)
    except BadFileName:
        pass  # unreadable is the reason that counts: once it can be read, its name is judged too
    return _reject(conn, ledger, f"{name} {_unreadable(exc)}")


_NAME_LOCK = "select pg_advisory_xact_lock(hashtextextended('fpwh_file:' || %s, 0))"


def _ledger_rows(conn: psycopg.Connection, name: str) -> list[tuple[str | None, str]]:
    return conn.execute(
        "select sha256, status from ingest.file_ledger where file_name = %s order by file_id", (name,)
    ).fetchall()


class _LedgerMovedMeanwhile(Exception):
    """Another load of this file name ended while this one waited for its lock."""


class _ChangedWhileLoading(Exception):
    """The file's size or modification time moved while it was loaded."""


def _defer(path: Path) -> LoadResult:
    reason = (f"{landing.shown_name(path.name)} was written to while it was loaded: nothing of it was kept; "
              "it is loaded once it is complete (see the settle time, FPWH_SETTLE_SECONDS)")
    log.warning("%s", reason)
    return LoadResult(landing.shown_name(path.name), LoadStatus.DEFERRED, reason=reason)


def _reject(conn: psycopg.Connection, ledger: dict, reason: str) -> LoadResult:
    ledger.update(status=LoadStatus.REJECTED.value, reason=reason, finished_at=datetime.now(UTC))
    with conn.transaction():
        conn.execute(_NAME_LOCK, (ledger["file_name"],))
        # the same bytes rejected by a load that ran at the same time: one ledger row says it
        file_id = conn.execute(
            "select file_id from ingest.file_ledger where file_name = %(file_name)s and sha256 = %(sha256)s",
            ledger).fetchone()
        file_id = file_id[0] if file_id else conn.execute(_LEDGER_INSERT, ledger).fetchone()[0]
    log.error("rejected file: %s", reason)
    return LoadResult(ledger["file_name"], LoadStatus.REJECTED, ledger["source_code"], file_id, reason=reason)


def _log_result(work: FileLoad) -> None:
    r = work.result
    log.info("%s: %d rows read, %d loaded, %d quarantined, %d duplicates, %d with warnings",
             r.file_name, r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate, r.rows_warned)
    for row_number, (_, reasons) in sorted(work.quarantine.items())[:config.LOGGED_BAD_ROWS]:
        log.warning("%s line %d quarantined: %s", r.file_name, row_number, "; ".join(reasons))
    if r.rows_quarantined > config.LOGGED_BAD_ROWS:
        log.warning("%s: %d more quarantined rows in ingest.quarantine (file_id %s)",
                    r.file_name, r.rows_quarantined - config.LOGGED_BAD_ROWS, r.file_id)
