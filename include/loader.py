"""Load one delivered file into its raw table: decode, validate, pseudonymize, COPY.

One transaction per file. Every delivered row ends loaded, quarantined (with every
reason) or counted as a duplicate, and the ledger row says how many of each; a file
that cannot be read as its source loads nothing and is recorded as rejected.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from include import landing, registry
from include.validation import RowValidator, cell_text

log = logging.getLogger(__name__)

KEY_CONFLICT = "another row of this file has the same key ({key}) but differs"
MAX_LOGGED_ROWS = 5


class BadFile(Exception):
    """The file cannot be read as its source; the message says why."""


@dataclass
class LoadResult:
    file_name: str
    status: str  # loaded | rejected | unchanged
    source_code: str | None = None
    file_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_warned: int = 0
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# ---- reading a file as rows ------------------------------------------------------------


def _csv_rows(path: Path, src: registry.Source) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per non-blank record; the header is line 1."""
    encoding = "gb18030" if src.encoding == "gb18030" else "utf-8-sig"  # a BOM is optional
    with path.open("rb") as probe:
        probe.seek(0, io.SEEK_END)
        size = probe.tell()
        probe.seek(max(size - 1, 0))
        ends_with_newline = size == 0 or probe.read(1) in (b"\n", b"\r")
    with path.open("r", encoding=encoding, errors="strict", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        previous = None
        try:
            for fields in reader:
                if not fields or all(not f.strip() for f in fields):
                    continue
                if previous is not None:
                    yield previous
                previous = (reader.line_num, fields)
        except UnicodeDecodeError as exc:
            raise BadFile(f"does not decode as {src.encoding.upper()} near byte {exc.start}") from None
        except csv.Error as exc:
            raise BadFile(f"is truncated or not valid CSV at line {reader.line_num} ({exc})") from None
        if previous is not None:
            if not ends_with_newline and previous[0] > 1:
                header_len = len(_first_row(path, encoding))
                if len(previous[1]) < header_len:
                    raise BadFile(f"is truncated: its last line {previous[0]} stops after "
                                  f"{len(previous[1])} of {header_len} fields")
            yield previous


def _first_row(path: Path, encoding: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as fh:
        return next(csv.reader(fh), [])


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[object]]]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        rows = sheet.to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own types for every kind of broken workbook
        raise BadFile(f"is not a readable Excel workbook ({type(exc).__name__}: {exc})") from None
    for index, cells in enumerate(rows, start=1):
        if all(cell_text(c).strip() == "" for c in cells):
            continue
        yield index, list(cells)


def read_rows(path: Path, src: registry.Source) -> Iterator[tuple[int, list[object]]]:
    return _xlsx_rows(path) if src.file_format == "xlsx" else _csv_rows(path, src)


def _positions(header: list[object], src: registry.Source) -> tuple[dict[str, int], list[str], list[str]]:
    """Where each registry column sits; the missing headers; the extra headers.
    Every header of the contract must be there, those of columns that may be empty too."""
    names = [cell_text(h).strip() for h in header]
    index = {name: i for i, name in enumerate(names)}
    positions = {col.name: index.get(col.header) for col in src.columns}
    missing = [c.header for c in src.columns if positions[c.name] is None]
    known = {c.header for c in src.columns}
    extra = [n for n in names if n not in known]
    return positions, missing, extra


def _digest(text: str) -> int:
    """A 64-bit digest: small enough to keep one per key of a 1.4-million-row file."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


# ---- loading ---------------------------------------------------------------------------


class FileLoad:
    """The work of loading one file in one transaction."""

    def __init__(self, conn: psycopg.Connection, path: Path, delivery: landing.DeliveryName, pseudonymize):
        self.conn = conn
        self.path = path
        self.delivery = delivery
        self.src = delivery.source
        self.pseudonymize = pseudonymize
        self.result = LoadResult(path.name, "loaded", self.src.code)
        self.quarantine: dict[int, tuple[dict, list[str]]] = {}
        self.warnings: list[tuple[int | None, str | None, str | None, str]] = []
        self.warned_rows: set[int] = set()
        self.duplicate_rows: set[int] = set()

    def _header(self, rows: Iterator) -> tuple[list[str], RowValidator]:
        try:
            _, header = next(rows)
        except StopIteration:
            raise BadFile("is empty: it has no header row") from None
        positions, missing, extra = _positions(header, self.src)
        if missing:
            hint = " (is it encoded as the contract says?)" if len(missing) == len(self.src.columns) else ""
            raise BadFile(f"lacks required header(s) {', '.join(missing)}{hint}")
        if extra:
            self.warnings.append((None, None, None, f"extra column(s) ignored: {', '.join(extra)}"))
        self.contract_positions = [positions[c.name] for c in self.src.columns]
        validator = RowValidator(self.src, positions, self.delivery.as_of, self.pseudonymize)
        return [cell_text(h) for h in header], validator

    def run(self, file_id: int) -> None:
        rows = read_rows(self.path, self.src)
        headers, validator = self._header(rows)
        width = len(headers)
        first_of_key: dict[int, int] = {}  # key digest -> digest of the first row with that key
        other_variants: set[tuple[int, int]] = set()  # later, differing rows of a key
        conflict_keys: dict[int, str] = {}  # key digest -> the key as it may be shown
        raw_cols = [c.name for c in registry.raw_columns(self.src)]
        copy_sql = f"copy {self.src.raw_table} ({', '.join(raw_cols)}) from stdin"

        with self.conn.cursor().copy(copy_sql) as copy:
            for row_number, cells in rows:
                self.result.rows_read += 1
                if len(cells) != width:
                    self._quarantine(row_number, headers, cells,
                                     [f"the row has {len(cells)} fields, the header has {width}"])
                    continue
                outcome = validator.validate(cells)
                key_hash = _digest(outcome.key)
                # identical means identical in the contract's columns; extra columns are ignored
                row_hash = _digest("\x1f".join(cell_text(cells[i]).strip() for i in self.contract_positions))
                first = first_of_key.get(key_hash)
                if first is None:
                    first_of_key[key_hash] = row_hash
                elif first == row_hash:  # identical to an earlier row: one row, reported as a duplicate
                    self.duplicate_rows.add(row_number)
                    continue
                else:  # same key, different content: all rows of the key are bad (found again below)
                    conflict_keys.setdefault(key_hash, validator.pseudonymous_key(outcome.key))
                    if (key_hash, row_hash) in other_variants:
                        self.duplicate_rows.add(row_number)
                        continue
                    other_variants.add((key_hash, row_hash))
                if outcome.reasons:
                    self._quarantine(row_number, headers, cells, outcome.reasons)
                    continue
                copy.write_row([file_id, row_number, *outcome.values])
                if outcome.warnings:
                    self.warned_rows.add(row_number)
                    row_key = validator.pseudonymous_key(outcome.key)
                    self.warnings += [(row_number, row_key, h, w) for h, w in outcome.warnings]
        if conflict_keys:
            self._quarantine_conflicts(file_id, headers, validator, conflict_keys)
        self._write_side_tables(file_id)

    def _quarantine(self, row_number: int, headers: list[str], cells: list[object], reasons: list[str]) -> None:
        record = {h or f"column {i + 1}": cell_text(c) for i, (h, c) in enumerate(zip(headers, cells))}
        for i in range(len(headers), len(cells)):
            record[f"column {i + 1}"] = cell_text(cells[i])
        self.quarantine[row_number] = (record, reasons)

    def _quarantine_conflicts(self, file_id, headers, validator: RowValidator, conflict_keys: dict[int, str]) -> None:
        """Rows sharing a key but differing are all bad: find them again and move them out."""
        moved: list[int] = []
        for row_number, cells in read_rows(self.path, self.src):
            if row_number == 1 or row_number in self.duplicate_rows or len(cells) != len(headers):
                continue
            outcome = validator.validate(cells)
            key_hash = _digest(outcome.key)
            if key_hash not in conflict_keys:
                continue
            reason = KEY_CONFLICT.format(key=conflict_keys[key_hash])
            if row_number in self.quarantine:
                self.quarantine[row_number][1].append(reason)
            else:
                self._quarantine(row_number, headers, cells, [reason])
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
            with cur.copy("copy ingest.row_warnings (file_id, row_number, row_key, column_name, warning) from stdin") as copy:
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
            raise RuntimeError(f"{self.path.name}: {in_table} rows in {self.src.raw_table}, expected {r.rows_loaded}")


# ---- one file, start to end ------------------------------------------------------------

_LEDGER_INSERT = """
insert into ingest.file_ledger (source_code, file_name, as_of_date, delivery_no, sha256, bytes, arrived_at,
    status, reason, started_at, finished_at, run_id)
values (%(source_code)s, %(file_name)s, %(as_of_date)s, %(delivery_no)s, %(sha256)s, %(bytes)s, %(arrived_at)s,
    %(status)s, %(reason)s, %(started_at)s, %(finished_at)s, %(run_id)s)
returning file_id
"""


def load_file(conn: psycopg.Connection, path: Path, pseudonymize, run_id: str | None = None) -> LoadResult:
    """Load one landed file, unless this name was already loaded with the same bytes."""
    landed = landing.fingerprint(path)
    started = datetime.now(timezone.utc)
    earlier = conn.execute(
        "select sha256, status from ingest.file_ledger where file_name = %s order by file_id", (path.name,)
    ).fetchall()
    conn.commit()
    if any(sha == landed.sha256 for sha, _ in earlier):
        return LoadResult(path.name, "unchanged")
    ledger = {
        "source_code": None, "file_name": path.name, "as_of_date": None, "delivery_no": None,
        "sha256": landed.sha256, "bytes": landed.bytes, "arrived_at": landed.arrived_at,
        "status": "loaded", "reason": None,
        "started_at": started, "finished_at": started, "run_id": run_id,
    }
    try:
        delivery = landing.parse_name(path.name)
    except landing.BadFileName as exc:
        return _reject(conn, ledger, str(exc))
    ledger.update(source_code=delivery.source.code, as_of_date=delivery.as_of, delivery_no=delivery.delivery_no)
    if any(status == "loaded" for _, status in earlier):
        return _reject(conn, ledger, f"{path.name}: a file of this name was already loaded with other "
                                     "contents; a corrected delivery must be named _2, _3, ...")

    work = FileLoad(conn, path, delivery, pseudonymize)
    try:
        with conn.transaction():
            file_id = conn.execute(_LEDGER_INSERT, ledger).fetchone()[0]
            work.run(file_id)
            r = work.result
            conn.execute(
                """update ingest.file_ledger set rows_read = %s, rows_loaded = %s, rows_quarantined = %s,
                   rows_duplicate = %s, rows_warned = %s, finished_at = %s where file_id = %s""",
                (r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate, r.rows_warned,
                 datetime.now(timezone.utc), file_id),
            )
    except BadFile as exc:
        return _reject(conn, ledger, f"{path.name} {exc}")
    work.result.file_id = file_id
    _log_result(work)
    return work.result


def _reject(conn: psycopg.Connection, ledger: dict, reason: str) -> LoadResult:
    ledger.update(status="rejected", reason=reason, finished_at=datetime.now(timezone.utc))
    with conn.transaction():
        file_id = conn.execute(_LEDGER_INSERT, ledger).fetchone()[0]
    log.error("rejected file: %s", reason)
    return LoadResult(ledger["file_name"], "rejected", ledger["source_code"], file_id, reason=reason)


def _log_result(work: FileLoad) -> None:
    r = work.result
    log.info("%s: %d rows read, %d loaded, %d quarantined, %d duplicates, %d with warnings",
             r.file_name, r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_duplicate, r.rows_warned)
    for row_number, (_, reasons) in sorted(work.quarantine.items())[:MAX_LOGGED_ROWS]:
        log.warning("%s line %d quarantined: %s", r.file_name, row_number, "; ".join(reasons))
    if r.rows_quarantined > MAX_LOGGED_ROWS:
        log.warning("%s: %d more quarantined rows in ingest.quarantine (file_id %s)",
                    r.file_name, r.rows_quarantined - MAX_LOGGED_ROWS, r.file_id)
