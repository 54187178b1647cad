"""A delivered CSV file cut into pieces of bounded size, each framed on record boundaries.

The loader reads a file a piece at a time (about `config.LOAD_PIECE_BYTES`), so its memory
stays flat whatever the file's size. A piece ends at a line end. A piece without a quote
character and without a lone carriage return is *plain*: a record is a line and a field
is what lies between commas, so numpy finds them (`columnar.split_lines`). Any other piece
goes through the csv module, from the record boundary it starts at, and is extended with the
next block of the file while it ends inside a quoted field (so a quoted field may hold
commas, doubled quotes and line ends, across what would have been a cut).

Line numbers are those of the csv module reading the whole file (its `line_num`: a record's
number is that of its last physical line; a lone CR ends a line too). Every piece is decoded
as the source's encoding (UTF-8 with or without a byte order mark, or GB18030) and handed on
as UTF-8 bytes; an encoding error, an unclosed quote or a truncated last line rejects the file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from include import config
from include.errors import BadFile

BOM = codecs.BOM_UTF8
_UNEXPECTED_END = "unexpected end of data"


class Extent(NamedTuple):
    """Where a piece lies in the file: enough to read it again (the loader's second look)."""

    offset: int  # its first byte in the file
    length: int  # its bytes
    base_line: int  # the lines of the file before it


class Piece(NamedTuple):
    """Records of a file, in order, as UTF-8 bytes.

    Plain pieces: `buf` holds whole lines, `rows` is None. Other pieces: `rows` holds each
    record's fields (str) and `numbers` their line numbers; `buf` is empty."""

    extent: Extent
    buf: bytes
    rows: list[list[str]] | None
    numbers: list[int] | None
    last_line: int  # the line number of the piece's last line


def encoding_of(src_encoding: str) -> str:
    return "gb18030" if src_encoding == "gb18030" else "utf-8"  # a BOM is taken off by the framing


def is_plain(buf: bytes) -> bool:
    """A piece whose records are its lines and whose fields lie between its commas."""
    if b'"' in buf:
        return False
    if b"\r" not in buf:
        return True
    arr = np.frombuffer(buf, np.uint8)
    crs = np.flatnonzero(arr == 13)
    return bool((arr[np.minimum(crs + 1, len(arr) - 1)] == 10).all()) and crs[-1] + 1 < len(arr)


def csv_error(exc: csv.Error, line: int) -> str:
    """What a csv.Error means for the people who delivered the file."""
    if "field larger than field limit" in str(exc):
        return (f"is not valid CSV at line {line}: a field there runs longer than "
                f"{config.CSV_FIELD_LIMIT:,} characters (an unclosed quote swallowing the lines after it, "
                "or not CSV at all)")
    return f"is truncated or not valid CSV at line {line} ({exc})"


class _Lines:
    """The lines of a text as the csv module reads a file opened with newline="" (split after
    LF, CRLF or a lone CR), counting the characters handed out."""

    def __init__(self, text: str):
        self.lines = io.StringIO(text, newline="")
        self.used = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.lines.readline()
        if not line:
            raise StopIteration
        self.used += len(line)
        return line


class Framing:
    """One CSV file, read once from start to end: `header()` first, then `pieces()`."""

    def __init__(self, path: Path, encoding: str, shown_encoding: str, piece_bytes: int | None = None):
        self.path = path
        self.encoding = encoding
        self.shown_encoding = shown_encoding
        self.piece_bytes = piece_bytes or config.LOAD_PIECE_BYTES
        self.fh = path.open("rb")
        self.offset = 0  # of the next byte to frame
        self.lines = 0  # lines of the file before `offset`
        self.pending = b""  # bytes read but not framed yet
        self.eof = False
        size = path.stat().st_size
        self.fh.seek(max(size - 1, 0))
        self.ends_with_newline = size == 0 or self.fh.read(1) in (b"\n", b"\r")
        self.fh.seek(0)
        self.first_seen = False
        self.last_record: tuple[int, int] | None = None  # (line number, fields) of the last non-blank record
        self.first_record_width = 0  # fields of the file's first record (blank or not)
        csv.field_size_limit(config.CSV_FIELD_LIMIT)  # longer cells than the contract's quarantine their row

    def close(self) -> None:
        self.fh.close()

    # ---- reading ------------------------------------------------------------------------

    def _read_more(self) -> bool:
        block = self.fh.read(self.piece_bytes)
        if not block:
            self.eof = True
            return False
        self.pending += block
        return True

    def _decode(self, raw: bytes, offset: int) -> str:
        try:
            return raw.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise BadFile(f"does not decode as {self.shown_encoding} near byte {offset + exc.start}") from None

    def _take(self, length: int) -> tuple[bytes, Extent]:
        raw, self.pending = self.pending[:length], self.pending[length:]
        extent = Extent(self.offset, length, self.lines)
        self.offset += length
        return raw, extent

    # ---- the header ---------------------------------------------------------------------

    def header(self) -> tuple[list[str], int]:
        """The first non-blank record and its line number; BadFile if there is none."""
        self._read_more()
        if self.pending.startswith(BOM) and self.encoding == "utf-8":
            self.pending = self.pending[len(BOM):]
            self.offset = len(BOM)
        while True:
            cut = self.pending.rfind(b"\n") + 1
            if cut == 0 and not self.eof:
                self._read_more()
                continue
            raw = self.pending[:cut] if cut and not self.eof else self.pending
            text = self._decode(raw, self.offset)
            lines = _Lines(text)
            reader = csv.reader(lines, strict=True)
            try:
                for fields in reader:
                    if not self.first_seen:  # what the truncation check compares the last record with
                        self.first_record_width, self.first_seen = len(fields), True
                    if _blank(fields):
                        continue
                    used = text[:lines.used]
                    taken = self._bytes_of(raw, used)
                    self._take(taken)
                    self.lines += reader.line_num
                    self.last_record = (self.lines, len(fields))
                    return fields, self.lines
            except csv.Error as exc:
                if _UNEXPECTED_END in str(exc) and not self.eof:
                    self._read_more()
                    continue
                raise BadFile(csv_error(exc, reader.line_num)) from None
            if self.eof:
                raise BadFile("is empty: it has no header row")
            self._take(len(raw))
            self.lines += reader.line_num
            self._read_more()

    def _bytes_of(self, raw: bytes, text: str) -> int:
        """How many bytes of `raw` the start `text` of its decoding takes."""
        if self.encoding == "utf-8":
            return len(text.encode("utf-8"))
        newlines = text.count("\n")
        if "\r" not in text.replace("\r\n", "") and text.endswith("\n"):
            at = -1
            for _ in range(newlines):
                at = raw.index(b"\n", at + 1)
            return at + 1
        return len(text.encode(self.encoding))

    # ---- the records after it -----------------------------------------------------------

    def pieces(self) -> Iterator[Piece]:
        while True:
            if not self.eof and len(self.pending) < self.piece_bytes:
                self._read_more()
            if not self.pending:
                if self.eof:
                    self._check_not_truncated()
                    return
                continue
            cut = len(self.pending) if self.eof else self.pending.rfind(b"\n") + 1
            if cut == 0:  # a line longer than a piece: read on
                self._read_more()
                continue
            piece = self._frame(cut)
            if piece is None:  # ends inside a quoted field: read on and frame again
                continue
            yield piece

    def _frame(self, cut: int) -> Piece | None:
        offset = self.offset
        raw = self.pending[:cut]
        text = self._decode(raw, offset)
        buf = text.encode("utf-8") if self.encoding != "utf-8" else raw
        if is_plain(buf):
            raw, extent = self._take(cut)
            lines = buf.count(b"\n") + (0 if buf.endswith(b"\n") else 1)
            self.lines += lines
            self._note_last_plain(buf)
            return Piece(extent, buf, None, None, self.lines)
        rows, numbers, used_lines = self.csv_records(text, self.lines, final=self.eof)
        if rows is None:
            self._read_more()
            return None
        _, extent = self._take(cut)
        self.lines += used_lines
        if rows:
            self.last_record = (numbers[-1], len(rows[-1]))
        return Piece(extent, b"", rows, numbers, self.lines)

    def csv_records(self, text: str, base_line: int, final: bool):
        """The non-blank records of a piece and their line numbers, and the lines it spans;
        (None, None, 0) if it ends inside a quoted field and more of the file follows."""
        reader = csv.reader(_Lines(text), strict=True)
        rows: list[list[str]] = []
        numbers: list[int] = []
        try:
            for fields in reader:
                if not _blank(fields):
                    rows.append(fields)
                    numbers.append(base_line + reader.line_num)
        except csv.Error as exc:
            if _UNEXPECTED_END in str(exc) and not final:
                return None, None, 0
            raise BadFile(csv_error(exc, base_line + reader.line_num)) from None
        return rows, numbers, reader.line_num

    def _note_last_plain(self, buf: bytes) -> None:
        """The last non-blank record of a plain piece: its line and fields (for the truncation check)."""
        end = len(buf)
        line = self.lines
        while end > 0:
            body_end = end - 1 if buf[end - 1:end] == b"\n" else end
            start = buf.rfind(b"\n", 0, body_end) + 1
            body = buf[start:body_end]
            if body.endswith(b"\r"):
                body = body[:-1]
            fields = body.decode("utf-8").split(",") if body else []
            if not _blank(fields):
                self.last_record = (line, len(fields))
                return
            end, line = start, line - 1

    def _check_not_truncated(self) -> None:
        if self.ends_with_newline or self.last_record is None:
            return
        line, width = self.last_record
        if line > 1 and width < self.first_record_width:
            raise BadFile(f"is truncated: its last line {line} stops after {width} of {self.first_record_width} fields")


def _blank(fields: list[str]) -> bool:
    """A record to skip: no fields, or every field white space (the first usually shows it is not)."""
    return not fields or not (fields[0].strip() or "".join(fields).strip())


def read_again(path: Path, extent: Extent, encoding: str, shown_encoding: str) -> Piece:
    """A piece of pass one, framed again from its extent (the file has not changed since: the
    loader checks that before it commits)."""
    with path.open("rb") as fh:
        fh.seek(extent.offset)
        raw = fh.read(extent.length)
    framing = Framing(path, encoding, shown_encoding)
    framing.close()
    text = framing._decode(raw, extent.offset)
    buf = text.encode("utf-8") if encoding != "utf-8" else raw
    if is_plain(buf):
        return Piece(extent, buf, None, None, 0)
    rows, numbers, _ = framing.csv_records(text, extent.base_line, final=True)
    return Piece(extent, b"", rows, numbers, 0)
