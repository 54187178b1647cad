"""A corpus of malformed deliveries, generated (never committed as files): each case writes
one defective entry into a landing folder, beside two valid files, and says how it must end.

The defects are what a careless or hostile department delivers: NUL bytes, overlong values,
broken quoting, impossible Excel dates, workbooks that claim a huge grid or unpack to
gigabytes, unreadable files, names holding personal data, ID numbers typed into free text,
encodings, truncation, duplicate headers, links and folders. Each planted ID number and
name is a secret the tests look for everywhere but the quarantine and the raw table's
pseudonyms.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import xlsxwriter

from include.contract import idnumber, registry
from tests.extracts import BIRTH_HEADER, birth, write_csv

SECRET_ID = idnumber.make("330327", date(1990, 1, 1), 686)  # valid: passes GB 11643
SECRET_NAME = "蔡文姬"
SECRETS = (SECRET_ID, SECRET_NAME)
PII_FILE_NAME = f"{SECRET_NAME}_{SECRET_ID}.csv"

VALID_FILES = ("wsj_csyxzm_20260131.csv", "wsj_csyxzm_20260228.csv")
REJECTED, LOADED, IGNORED = "rejected", "loaded", "ignored"


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], None]  # writes the defective entry into the landing folder
    outcome: str  # what becomes of the defective entry: rejected, loaded (rows quarantined), ignored
    quarantined: int = 0  # rows of it quarantined, when loaded
    warned: int = 0  # rows of it loaded with a warning
    says: str = ""  # a fragment its reason (file) or every row's reason (rows) must hold
    needs_non_root: bool = False  # only a user without root's powers can be refused a read


def valid_landing(folder: Path) -> None:
    write_csv(folder, VALID_FILES[0], BIRTH_HEADER, [birth(cert="A000000001")])
    write_csv(folder, VALID_FILES[1], BIRTH_HEADER, [birth(cert="A000000002", born="2026-02-10")])


def _births(rows: list[list[str]], name: str = "wsj_csyxzm_20260331.csv", header=BIRTH_HEADER,
            raw: bytes | None = None) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        if raw is not None:
            (folder / name).write_bytes(raw)
        else:
            write_csv(folder, name, header, rows)
    return write


def _secret_row(**kw) -> list[str]:
    return birth(**({"cert": "A000000009", "born": "2026-03-10", "mother": SECRET_ID, "name": SECRET_NAME} | kw))


def _raw_lines(*lines: str) -> bytes:
    return ("\n".join([",".join(BIRTH_HEADER), *lines]) + "\n").encode("utf-8")


def _good_line(**kw) -> str:
    return ",".join(birth(cert="A000000010", born="2026-03-11", **kw))


# ---- workbooks -----------------------------------------------------------------------

EXAM = registry.source("wsj_yqjc")  # pre-pregnancy examinations: an XLSX source with an Excel date


def _workbook_bytes(rows: list[list[object]], date_cells: dict[int, int] | None = None) -> bytes:
    """An XLSX of the exam source: the header, then rows; date_cells puts a serial number with a
    date format in that column index of each row."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    as_date = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, [c.header for c in EXAM.columns])
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if date_cells and c in date_cells:
                sheet.write_number(r, c, date_cells[c], as_date)
            else:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def _exam_name() -> str:
    return f"{EXAM.code}_20260331.xlsx"


def _exam_row_with_serial(serial: int) -> Callable[[Path], None]:
    date_col = next(i for i, c in enumerate(EXAM.columns) if c.date_format == registry.EXCEL)

    def write(folder: Path) -> None:
        (folder / _exam_name()).write_bytes(_workbook_bytes([[""] * len(EXAM.columns)], {date_col: serial}))
    return write


def workbook_declaring(extent: str, far_cell: str | None = None) -> bytes:
    """A small workbook whose sheet declares the extent `extent`, and with `far_cell` a cell there
    (the reader sizes its grid from the cells it finds)."""
    out_buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_workbook_bytes([]))) as src, zipfile.ZipFile(out_buffer, "w",
                                                                                  zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{extent}"'.encode(), body)
                if far_cell:
                    row = re.sub("[A-Z]", "", far_cell)
                    cell = f'<row r="{row}"><c r="{far_cell}" t="inlineStr"><is><t>x</t></is></c></row>'
                    body = body.replace(b"</sheetData>", cell.encode() + b"</sheetData>")
            out.writestr(item, body)
    return out_buffer.getvalue()


def _dimension_bomb(folder: Path) -> None:
    (folder / _exam_name()).write_bytes(workbook_declaring("A1:XFD1048576"))


def _zip_bomb(folder: Path) -> None:
    """A workbook one of whose parts unpacks to 2 GiB of zeros (a few MB compressed)."""
    data = _workbook_bytes([])
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(folder / _exam_name(), "w",
                                                                   zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            out.writestr(item, src.read(item.filename))
        with out.open("xl/media/padding.bin", "w", force_zip64=True) as pad:
            zeros = bytes(1 << 24)
            for _ in range(128):
                pad.write(zeros)


def _unreadable(folder: Path) -> None:
    path = write_csv(folder, "wsj_csyxzm_20260331.csv", BIRTH_HEADER, [birth(cert="A000000011", born="2026-03-11")])
    path.chmod(0)


def _symlink_out(folder: Path) -> None:
    outside = folder.parent / "outside.csv"
    write_csv(folder.parent, outside.name, BIRTH_HEADER, [_secret_row()])
    (folder / "wsj_csyxzm_20260331.csv").symlink_to(outside)


CASES = [
    # ---- NUL bytes: the row is quarantined, never a crash ------------------------------
    Case("nul in a text field", _births([_secret_row(hospital="医院\x00")]), LOADED, 1, says="NUL"),
    Case("nul in a code field", _births([_secret_row(area="310112\x00101001")]), LOADED, 1, says="NUL"),
    Case("nul in the ID number", _births([_secret_row(mother=SECRET_ID[:5] + "\x00" + SECRET_ID[6:])]), LOADED, 1,
         says="NUL"),
    Case("a line of NULs", _births([], raw=_raw_lines("\x00" * 40, _good_line())), LOADED, 1),
    Case("nul in an extra header", _births([], raw=("\n".join([",".join(BIRTH_HEADER + ["备注\x00"]),
                                                             _good_line() + ",x"]) + "\n").encode()), LOADED, 0),
    # ---- lengths and quoting -----------------------------------------------------------
    Case("an overlong value", _births([_secret_row(hospital="医" * 5000)]), LOADED, 1, says="characters long"),
    Case("an unclosed quote swallowing the file", _births([], raw=_raw_lines(
        '"' + _good_line(), *[_good_line() + "x" * 100] * 12000)), REJECTED, says="line"),
    # ---- Excel dates -------------------------------------------------------------------
    Case("Excel serial 60 (1900-02-29)", _exam_row_with_serial(60), LOADED, 1, says="1900-03-01"),
    Case("Excel serial 59 (1900-02-28, indistinguishable)", _exam_row_with_serial(59), LOADED, 1, says="1900-03-01"),
    # ---- workbooks that would take the process down --------------------------------------
    Case("XLSX declaring XFD1048576", _dimension_bomb, REJECTED, says="rows by"),
    Case("XLSX unpacking to 2 GiB", _zip_bomb, REJECTED, says="unpack"),
    Case("XLSX that is not a ZIP", _births([], name=_exam_name(), raw=b"PK\x03\x04 not really"), REJECTED,
         says="not a readable Excel workbook"),
    # ---- files that cannot be read, or are not in the folder ---------------------------
    Case("unreadable (mode 000)", _unreadable, REJECTED, says="cannot be read", needs_non_root=True),
    Case("symlink to a file outside", _symlink_out, IGNORED),
    Case("a folder with a delivery's name", lambda f: (f / "wsj_csyxzm_20260331.csv").mkdir(), IGNORED),
    Case("hidden name", _births([_secret_row()], name=".wsj_csyxzm_20260331.csv"), IGNORED),
    # ---- names holding personal data ---------------------------------------------------
    Case("name with a person's name and ID number", _births([_secret_row()], name=PII_FILE_NAME),
         REJECTED, says="the name is not"),
    Case("ID number as the delivery number", _births([_secret_row()], name=f"wsj_csyxzm_20260331_{SECRET_ID}.csv"),
         REJECTED, says="digits is beyond"),
    Case("full-width digits in the date", _births([_secret_row()], name="wsj_csyxzm_２０２６０３３１.csv"), REJECTED),
    Case("control characters in the name", _births([_secret_row()], name="wsj_csyxzm_2026\n0331\t.csv"), REJECTED),
    # ---- ID numbers in free text: loaded masked, warned ----------------------------------
    Case("valid ID number in free text", _births([birth(cert="A000000012", born="2026-03-10",
                                                       hospital=f"转诊 {SECRET_ID} 号")]), LOADED, 0, warned=1),
    Case("ID-shaped number failing its check in free text", _births([birth(
        cert="A000000013", born="2026-03-10", hospital=SECRET_ID[:-1] + ("0" if SECRET_ID[-1] != "0" else "1"))]),
        LOADED, 0, warned=0),
    # ---- values that must not be repeated in reasons -----------------------------------
    Case("the name in the sex column", _births([_secret_row(sex=SECRET_NAME)]), LOADED, 1, says="not one of"),
    Case("the ID number in the date column", _births([_secret_row(born=SECRET_ID)]), LOADED, 1, says="not a date"),
    Case("the ID number in the area column", _births([_secret_row(area=SECRET_ID)]), LOADED, 1, says="area code"),
    # ---- encodings, truncation, headers ------------------------------------------------
    Case("GB18030 where UTF-8 is due", _births([], raw=_raw_lines(_good_line()).decode().encode("gb18030")),
         REJECTED, says="decode"),
    Case("truncated mid-line", _births([], raw=_raw_lines(_good_line())[:-30]), REJECTED, says="truncated"),
    Case("a header named twice", _births([], raw=("\n".join([",".join(BIRTH_HEADER + [BIRTH_HEADER[0]]),
                                                            _good_line() + ",B000000001"]) + "\n").encode()),
         REJECTED, says="twice"),
    Case("empty file", _births([], raw=b""), REJECTED, says="empty"),
    Case("header only", _births([], raw=(",".join(BIRTH_HEADER) + "\n").encode()), LOADED, 0),
    Case("ragged rows", _births([], raw=_raw_lines(_good_line() + ",extra", _good_line(sex="女")[:-10])), LOADED, 2),
]
