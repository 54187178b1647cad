"""Hand-made extracts for tests: a birth-certificate row with its defaults, and CSV files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from include.contract import idnumber, registry
from include.ingest.pseudonym import Pseudonymizer

PSEUDONYMIZE = Pseudonymizer(b"test-key")
MOTHER = idnumber.make("310112", date(1994, 5, 6), 124)
MOTHER_15 = idnumber.to_15_digit(idnumber.make("310112", date(1990, 1, 2), 222))
BIRTH_HEADER = [c.header for c in registry.source("wsj_csyxzm").columns]


def birth(cert="A000000001", sex="男", born="2026-01-10", weeks="39", weight="3300", order="1",
          mother=MOTHER, name="王芳", father="", kind="户籍", area="310112101001", hospital="闵行区妇幼保健院"):
    return [cert, sex, born, weeks, weight, order, mother, name, father, kind, area, hospital]


def write_csv(folder: Path, name: str, header: list[str], rows: list[list[str]], encoding="utf-8", end="\n") -> Path:
    path = folder / name
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes((end.join(lines) + end).encode(encoding))
    return path
