"""Load one delivered file into its raw table: decode, validate, pseudonymize, COPY.

One transaction per file. Every delivered row ends loaded, quarantined (with every
reason) or counted as a duplicate, and the ledger row says how many of each; a file
that cannot be read as its source loads nothing and is recorded as rejected.
"""

from __future__ import annotations

import gc
import json
import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import numpy as np
import psycopg

from include import config
from include.contract import idnumber, registry
from include.errors import BadFile, BadFileName
from include.ingest import binarycopy, bytefields, columnar, framing, keyhash, landing, readers
from include.ingest.cells import cell_text
from include.ingest.validate import RowValidator
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


def _shown_header(header: str) -> str:
    """A delivered header that is not the contract's, as a warning may repeat it: ID numbers
    masked, control characters as ␀, at most 40 characters (it could be anything)."""
    shown = "".join(NUL_SHOWN if not ch.isprintable() else ch for ch in idnumber.mask(header))
    return shown if len(shown) <= 40 else shown[:39] + "…"


def _blank(cells: list[str]) -> bool:
    """A CSV record to skip: every field white space (as the csv module's reader passes it on)."""
    return not cells or not (cells[0].strip() or "".join(cells).strip())


def _hex_rows(pseudonymize):
    """Many pseudonyms at once: the Pseudonymizer's own way, or one call per number."""
    if hasattr(pseudonymize, "hex_rows"):
        return pseudonymize.hex_rows

    def hex_rows(ids: np.ndarray, present: np.ndarray) -> np.ndarray:
        out = np.zeros((len(ids), 64), np.uint8)
        for j in np.flatnonzero(present).tolist():
            out[j] = np.frombuffer(pseudonymize(ids[j].tobytes().decode()).encode(), np.uint8)
        return out
    return hex_rows


# ---- loading ---------------------------------------------------------------------------


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Loading makes many short-lived objects and no reference cycles; Python's cyclic garbage
    collector would spend time scanning them. Paused while a file streams."""
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

    A CSV file is read a piece at a time (`framing`); the columnar checks (`columnar.Vouch`)
    vouch for most rows of a piece, which are encoded a column at a time, and the others go
    through the row validator one by one. Each piece's binary COPY data is sent from a second
    thread while the next piece is checked. Every row's key hash is kept; at the end the rows
    whose keys repeat are read again and the duplicate and conflict rules replayed on them, in
    file order (`_replay`). XLSX rows all take the row path."""

    vouching = True  # False: every row through the row validator (the parity tests' other path)

    def __init__(self, conn: psycopg.Connection, path: Path, delivery: landing.DeliveryName, pseudonymize):
        self.conn = conn
        self.path = path
        self.delivery = delivery
        self.src = delivery.source
        self.pseudonymize = pseudonymize
        self.result = LoadResult(landing.shown_name(path.name), LoadStatus.LOADED, self.src.code)
        self.quarantine: dict[int, tuple[str, list[str]]] = {}  # line -> (the record as JSON, reasons)
        self.warnings: list[tuple[int | None, str | None, str | None, str]] = []
        self.warned_rows: set[int] = set()
        self.duplicate_rows: set[int] = set()
        # a CSV record takes at least a byte a field (a comma, or a line end); reserved, not taken
        self.keys = keyhash.KeyHashes(min(path.stat().st_size // len(self.src.columns) + 1, 1 << 26))
        self.pieces: list[tuple[framing.Extent, int]] = []  # each CSV piece's extent and last line
        self.raw = registry.raw_columns(self.src)
        self.sql_types = [c.sql_type for c in self.raw]

    def _header(self, batches: Iterator) -> None:
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
        self.vouch = columnar.Vouch(self.validator, _hex_rows(self.pseudonymize))

    def run(self, file_id: int) -> None:
        self.file_id = file_id
        self.file_field = binarycopy.Const(struct.pack(">q", file_id))
        batches = readers.read_batches(self.path, self.src)
        self._header(batches)
        copy_sql = f"copy {self.src.raw_table} ({', '.join(c.name for c in self.raw)}) from stdin (format binary)"
        cursor = self.conn.cursor()
        with _cyclic_gc_paused(), cursor.copy(copy_sql) as copy:
            sender = binarycopy.Sender(copy, config.LOAD_PIECES_QUEUED)
            try:
                sender.send(binarycopy.SIGNATURE)
                for batch in batches:
                    if isinstance(batch, framing.Piece):
                        self.pieces.append((batch.extent, batch.last_line))
                        blocks = self._load_piece(batch)
                    else:
                        blocks = self._load_rows(batch.numbers, batch.rows, csv=False)
                    if blocks:
                        sender.send(b"".join(blocks))
                sender.send(binarycopy.TRAILER)
            except BaseException:
                sender.abandon()
                raise
            sender.close()
        self.in_table = cursor.rowcount  # rows the server took, from COPY's command tag
        with _cyclic_gc_paused():
            self._replay()
        self._write_side_tables(file_id)

    # ---- a piece, a column at a time ---------------------------------------------------

    def _records(self, piece: framing.Piece, record) -> tuple[bytefields.Records, object]:
        """The piece's rows as wide as the header (others are passed to `record`), and a way to
        get a row's cells as delivered."""
        width = len(self.headers)
        if piece.rows is None:
            lines = bytefields.split_lines(piece.buf, width, piece.extent.base_line)
            buf, fit = piece.buf, lines.fit
            for number, lo, hi in lines.others:
                record(number, buf[lo:hi].decode("utf-8").split(",") if hi > lo else [])
            return fit, lambda j: buf[fit.lo[j]:fit.hi[j]].decode("utf-8").split(",")
        rows, numbers = [], []
        for number, cells in zip(piece.numbers, piece.rows):
            if len(cells) == width:
                rows.append(cells)
                numbers.append(number)
            else:
                record(number, cells)
        return bytefields.from_cells(rows, numbers, width), rows.__getitem__

    def _load_piece(self, piece: framing.Piece) -> list[bytes]:
        misfits: list[tuple[int, list[str]]] = []
        rec, cells_of = self._records(piece, lambda number, cells: misfits.append((number, cells)))
        blocks = self._load_rows([n for n, _ in misfits], [c for _, c in misfits], csv=True)
        if not len(rec.numbers):
            return blocks
        if self.vouching:
            checked = self.vouch.check(rec)
            sure = np.flatnonzero(checked.ok)
            unsure = np.flatnonzero(~checked.ok)
        else:
            sure, unsure = np.zeros(0, np.int64), np.arange(len(rec.numbers))
        if len(sure):
            numbers = rec.numbers[sure]
            fields = [self.file_field, binarycopy.Fixed(binarycopy.be32(numbers), None), *checked.fields]
            blocks += binarycopy.encode_columns(len(sure), fields)
            self.keys.add(checked.keys[sure], numbers)
            self.result.rows_read += len(sure)
        if len(unsure):
            blocks += self._load_rows(rec.numbers[unsure].tolist(), [cells_of(j) for j in unsure.tolist()], csv=True)
        return blocks

    # ---- rows one by one ---------------------------------------------------------------

    def _load_rows(self, numbers: list[int], rows: list[list], csv: bool) -> list[bytes]:
        """Rows through the row validator: quarantined with their reasons, or encoded from their values."""
        width = len(self.headers)
        out: list[bytes] = []
        key_parts: list[list[str]] = []
        key_numbers: list[int] = []
        for number, cells in zip(numbers, rows):
            if csv and _blank(cells):
                continue
            self.result.rows_read += 1
            if len(cells) != width:
                self._quarantine(number, cells, [f"the row has {len(cells)} fields, the header has {width}"])
                continue
            outcome = self.validator.validate(cells)
            key_parts.append(outcome.key_parts)
            key_numbers.append(number)
            if outcome.reasons:
                self._quarantine(number, cells, outcome.reasons)
                continue
            if outcome.warnings:
                self.warned_rows.add(number)
                row_key = self.validator.pseudonymous_key(outcome.key)
                self.warnings += [(number, row_key, h, w) for h, w in outcome.warnings]
            out.append(binarycopy.encode_values([self.file_id, number, *outcome.values], self.sql_types))
        if key_parts:
            parts = [keyhash.bytes_hashes([p[k].encode("utf-8", "surrogatepass") for p in key_parts])
                     for k in range(len(self.src.key))]
            self.keys.add(keyhash.combine(parts), np.array(key_numbers, np.int64))
        return [b"".join(out)] if out else []

    def _quarantine(self, row_number: int, cells: list[object], reasons: list[str]) -> None:
        headers = self.headers
        record = {h or f"column {i + 1}": cell_text(c) for i, (h, c) in enumerate(zip(headers, cells))}
        for i in range(len(headers), len(cells)):
            record[f"column {i + 1}"] = cell_text(cells[i])
        if any("\x00" in k or "\x00" in v for k, v in record.items()):  # jsonb cannot hold U+0000
            record = {k.replace("\x00", NUL_SHOWN): v.replace("\x00", NUL_SHOWN) for k, v in record.items()}
        self.quarantine[row_number] = (json.dumps(record, ensure_ascii=False), reasons)  # compact until written

    # ---- keys that repeat --------------------------------------------------------------

    def _rows_again(self, wanted: list[int]) -> Iterator[tuple[int, list]]:
        """The rows of these line numbers (as wide as the header), read again, in file order."""
        if self.src.file_format == "xlsx":
            batches = readers.read_batches(self.path, self.src)
            next(batches)
            want = set(wanted)
            for batch in batches:
                for number, cells in zip(batch.numbers, batch.rows):
                    if number in want:
                        yield number, cells
            return
        at = 0
        encoding = framing.encoding_of(self.src.encoding)
        for extent, last_line in self.pieces:
            if at == len(wanted):
                return
            if wanted[at] > last_line:
                continue
            inside = []
            while at < len(wanted) and wanted[at] <= last_line:
                inside.append(wanted[at])
                at += 1
            piece = framing.read_again(self.path, extent, encoding, self.src.encoding.upper())
            if piece.rows is None:  # a record is a line
                yield from zip(inside, bytefields.lines_at(piece.buf, np.array(inside) - extent.base_line))
                continue
            where = dict(zip(piece.numbers, piece.rows))
            yield from ((number, where[number]) for number in inside)

    def _replay(self) -> None:
        """The duplicate and conflict rules, in file order, on the rows whose key hash repeats: an
        identical repeat is a duplicate (not loaded, not quarantined); rows that share a key and
        differ are all bad (moved out of the raw table into the quarantine)."""
        again = self.keys.repeated()
        if not again:
            return
        first_of_key: dict[str, str] = {}
        variants: set[tuple[str, str]] = set()
        conflicts: dict[str, str] = {}  # key -> the key as it may be shown
        kept: list[tuple[int, str, list]] = []
        for number, cells in self._rows_again(again):
            outcome = self.validator.validate(cells)
            key, content = outcome.key, outcome.content
            first = first_of_key.get(key)
            if first is None:
                first_of_key[key] = content
            elif first == content:  # identical to an earlier row: one row, reported as a duplicate
                self.duplicate_rows.add(number)
                continue
            else:  # same key, different content: all rows of the key are bad
                conflicts.setdefault(key, self.validator.pseudonymous_key(key))
                if (key, content) in variants:
                    self.duplicate_rows.add(number)
                    continue
                variants.add((key, content))
            kept.append((number, key, cells))
        moved = [n for n in self.duplicate_rows if self.quarantine.pop(n, None) is None]
        for number, key, cells in kept:
            if key not in conflicts:
                continue
            reason = KEY_CONFLICT.format(key=conflicts[key])
            if number in self.quarantine:
                self.quarantine[number][1].append(reason)
            else:
                self._quarantine(number, cells, [reason])
                moved.append(number)
        if moved:
            self.in_table -= self.conn.execute(
                f"delete from {self.src.raw_table} where _file_id = %s and _row_number = any(%s)",
                (self.file_id, sorted(moved)),
            ).rowcount
        gone = set(self.quarantine) | self.duplicate_rows
        self.warnings = [w for w in self.warnings if w[0] is None or w[0] not in gone]
        self.warned_rows -= gone

    def _write_side_tables(self, file_id: int) -> None:
        self.warnings.sort(key=lambda w: -1 if w[0] is None else w[0])  # the file's, then in file order
        with self.conn.cursor() as cur:
            with cur.copy("copy ingest.quarantine (file_id, row_number, record, reasons) from stdin") as copy:
                for row_number, (record, reasons) in sorted(self.quarantine.items()):
                    copy.write_row([file_id, row_number, record, reasons])
            warnings_copy = "copy ingest.row_warnings (file_id, row_number, row_key, column_name, warning) from stdin"
            with cur.copy(warnings_copy) as copy:
                for row in self.warnings:
                    copy.write_row([file_id, *row])
        r = self.result
        r.rows_quarantined = len(self.quarantine)
        r.rows_duplicate = len(self.duplicate_rows)
        r.rows_loaded = r.rows_read - r.rows_quarantined - r.rows_duplicate
        r.rows_warned = len(self.warned_rows)
        if self.in_table != r.rows_loaded:  # a loader bug, never a data problem: refuse to commit
            raise RuntimeError(f"{self.result.file_name}: {self.in_table} rows in {self.src.raw_table}, "
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
