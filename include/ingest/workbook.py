"""An XLSX workbook, checked for what it claims before it is read, and read in a child process.

A workbook is a ZIP of XML parts; the reader (calamine) sizes its grid from the sheet's
declared dimension and its cell references, so a 5 kB file that claims `A1:XFD1048576` makes
it allocate half a terabyte and abort the process. So before reading: the parts must unpack
to a sane size, and the first sheet's extent (declared and referenced) must stay under a cell
limit. And the reading itself runs in a child process with a memory limit, so that whatever
else a hostile workbook does, it takes down that child, not the load of the other files.
"""

from __future__ import annotations

import pickle
import posixpath
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from include import config
from include.contract import idnumber
from include.errors import BadFile

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\sr=\"([A-Z]{1,3})([0-9]{1,7})\"")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\b[^>]*?\sr=\"([0-9]{1,7})\"")
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\sref=\"[A-Z]*[0-9]*(?::([A-Z]{1,3})([0-9]{1,7}))?\"")
_OVERLAP = 256  # bytes kept between chunks, so that a tag cut by a chunk's end is still seen


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def first_sheet(archive: zipfile.ZipFile) -> str:
    """The part name of the workbook's first sheet (what calamine's sheet index 0 reads)."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        raise BadFile("is not a readable Excel workbook (no workbook part)") from None
    sheet = workbook.find(f"{_NS_MAIN}sheets/{_NS_MAIN}sheet")
    target = next((r.get("Target") for r in rels.iter(f"{_NS_PKG_REL}Relationship")
                   if sheet is not None and r.get("Id") == sheet.get(f"{_NS_REL}id")), None)
    if target is None:
        raise BadFile("is not a readable Excel workbook (it has no sheet)")
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def sheet_extent(archive: zipfile.ZipFile, part: str) -> tuple[int, int]:
    """(rows, columns) the sheet spans: the largest of its declared dimension and the cell and
    row references in it, read as a stream (the part may be large)."""
    rows = columns = 0
    with archive.open(part) as stream:
        tail = b""
        while chunk := stream.read(1 << 20):
            text = tail + chunk
            for m in _DIMENSION.finditer(text):
                if m[1]:
                    columns, rows = max(columns, _column_number(m[1])), max(rows, int(m[2]))
            for m in _CELL_REF.finditer(text):
                columns, rows = max(columns, _column_number(m[1])), max(rows, int(m[2]))
            for m in _ROW_REF.finditer(text):
                rows = max(rows, int(m[1]))
            tail = text[-_OVERLAP:]
    return rows, columns


def check(path: Path) -> None:
    """BadFile unless the workbook is a ZIP that unpacks to a sane size and its first sheet's
    grid stays under the cell limit."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BadFile(f"is not a readable Excel workbook ({type(exc).__name__})") from None
    with archive:
        unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > config.XLSX_MAX_UNPACKED_BYTES:
            raise BadFile(f"would unpack to {unpacked:,} bytes, more than the {config.XLSX_MAX_UNPACKED_BYTES:,} "
                          "any delivered workbook needs (a ZIP bomb?)")
        part = first_sheet(archive)
        try:
            rows, columns = sheet_extent(archive, part)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise BadFile(f"is not a readable Excel workbook ({type(exc).__name__} in its sheet)") from None
    if rows * columns > config.XLSX_MAX_CELLS:
        raise BadFile(f"declares a sheet of {rows:,} rows by {columns:,} columns, more than the "
                      f"{config.XLSX_MAX_CELLS:,} cells any delivery holds: it is not read")


# Run by a fresh interpreter: no import of this project, only the reader, under a memory limit.
_CHILD = """
import pickle, resource, sys
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from python_calamine import CalamineWorkbook
try:
    rows = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0).to_python(skip_empty_area=False)
except Exception as exc:
    pickle.dump(("error", f"{type(exc).__name__}: {exc}"), sys.stdout.buffer)
else:
    pickle.dump(("rows", rows), sys.stdout.buffer)
"""


def read_rows(path: Path) -> list[list[object]]:
    """The first sheet's rows as typed cells, once `check` has passed."""
    check(path)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(config.XLSX_READER_MEMORY_BYTES)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        how = (f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0
               else f"exit status {done.returncode}")
        raise BadFile(f"is not a readable Excel workbook (the reader stopped with {how})")
    kind, payload = pickle.loads(done.stdout)
    if kind == "error":  # calamine raises its own types for every kind of broken workbook
        raise BadFile(f"is not a readable Excel workbook ({idnumber.mask(payload)})")
    return payload
