"""The columnar loader's parts, each against the one it stands in for: the columnar checks
against the row validator and idnumber.parse, the binary COPY encoder against psycopg's own
binary dumpers, the key hashes of a column against those of single values, and the framing
of a file in pieces against the csv module reading it whole."""

from __future__ import annotations

import csv
import io
import random
import struct
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from psycopg.types.datetime import DateBinaryDumper
from psycopg.types.numeric import DecimalBinaryDumper

from include.contract import idnumber, registry
from include.ingest import binarycopy, bytefields, columnar, framing, keyhash
from include.ingest.pseudonym import Pseudonymizer
from include.ingest.validate import RowValidator

PSEUDONYMIZE = Pseudonymizer(b"test-key")
BIRTHS = registry.source("wsj_csyxzm")


def _id_values(rng: random.Random) -> list[str]:
    def value() -> str:
        number = idnumber.make(str(rng.randint(110000, 659999)), date(rng.randint(1920, 2025), rng.randint(1, 12),
                                                                      rng.randint(1, 28)), rng.randint(0, 999))
        return rng.choice([number, number, number, number.lower(), number[:17] + rng.choice("0123456789Xx"),
                           number[:10] + "13" + number[12:], number[:12] + "30" + number[14:], " " + number + " ",
                           idnumber.to_15_digit(number) if number[6:8] == "19" else number,
                           number[:5] + "\n" + number[5:], "", number[:17], "１" + number[1:]])
    return [value() for _ in range(3000)]


def _birth_rows(mothers: list[str]) -> list[list[str]]:
    good = {"certificate_no": "A000000001", "newborn_sex": "男", "birth_date": "2026-01-10",
            "gestation_weeks": "39", "birth_weight_g": "3300", "birth_order": "1", "mother_name": "王芳",
            "father_id": "", "mother_population_type": "户籍", "mother_area_code": "310112101001",
            "delivery_hospital": "闵行区妇幼保健院"}
    return [[{**good, "mother_id": m}.get(col.name, "") for col in BIRTHS.columns] for m in mothers]


def _vouch(src: registry.Source, as_of: date = date(2026, 1, 31),
           pseudonymizer: Pseudonymizer = PSEUDONYMIZE) -> tuple[RowValidator, columnar.Vouch]:
    validator = RowValidator(src, {c.name: i for i, c in enumerate(src.columns)}, as_of, PSEUDONYMIZE)
    return validator, columnar.Vouch(validator, pseudonymizer.hex_rows)


@pytest.mark.parametrize("way", ["polars-hash", "hashlib"])
def test_the_columnar_id_check_vouches_only_for_what_parse_accepts_and_gives_the_same(way):
    rng = random.Random(2)
    mothers = _id_values(rng)
    rows = _birth_rows(mothers)
    pseudonymizer = Pseudonymizer(b"test-key")
    if way == "hashlib":
        pseudonymizer._text_key = None  # the fallback
    validator, vouch = _vouch(BIRTHS, pseudonymizer=pseudonymizer)
    checked = vouch.check(bytefields.from_cells(rows, list(range(2, len(rows) + 2)), len(BIRTHS.columns)))
    sure = np.flatnonzero(checked.ok)
    pid, born, sex = checked.fields[6:9]  # mother_id's pseudonym, birth date and sex
    for k, j in enumerate(sure.tolist()):
        parsed = idnumber.parse(mothers[j])  # raises if the columnar path vouched for an invalid number
        assert bytes(pid.data[k]).decode() == PSEUDONYMIZE(parsed.canonical)
        assert struct.unpack(">i", bytes(born.data[k]))[0] == binarycopy.days_of(parsed.birth_date)
        assert bytes(sex.data[k]).decode() == parsed.sex
        outcome = validator.validate(rows[j])
        assert outcome.reasons == [] and outcome.warnings == []
    plain = sum(1 for m in mothers if m and m.strip() == m and "\n" not in m and m.isascii()
                and (outcome := validator.validate(_birth_rows([m])[0])) and not outcome.reasons)
    assert len(sure) > 0.9 * plain  # lower-case x and 15 digits included


def test_vectorised_dates_agree_with_the_calendar():
    rng = np.random.default_rng(3)
    y, m, d = rng.integers(1790, 2210, 20000), rng.integers(0, 14, 20000), rng.integers(0, 33, 20000)
    ok, days = bytefields.real_days(y, m, d)
    for yy, mm, dd, o, n in zip(y.tolist(), m.tolist(), d.tolist(), ok.tolist(), days.tolist()):
        try:
            real = date(yy, mm, dd)
        except ValueError:
            assert not o, (yy, mm, dd)
            continue
        assert o == (1800 <= yy <= 2200), (yy, mm, dd)  # other years: the row path's
        if o:
            assert n == binarycopy.days_of(real)


@pytest.mark.parametrize("text", ["0", "85", "85.5", "100", "100.0", "0.5", "7.25", "12345.6", "0.0001", "10000",
                                  "99999.9", "-3.5", "1E+3", "0.10"])
def test_numeric_fields_are_what_psycopg_sends(text):
    value = Decimal(text)
    field = binarycopy.encode_values([value], ["numeric(5,1)"])[2:]
    body = bytes(DecimalBinaryDumper(Decimal).dump(value))
    assert field == struct.pack(">i", len(body)) + body


def test_dates_integers_booleans_and_texts_are_what_psycopg_sends():
    day = date(1999, 12, 31)
    assert binarycopy.encode_values([day], ["date"])[6:] == bytes(DateBinaryDumper(date).dump(day))
    assert binarycopy.encode_values([None, 7, 8, True, "医院"], ["text", "integer", "bigint", "boolean", "text"]) == (
        struct.pack(">h", 5) + struct.pack(">i", -1) + struct.pack(">ii", 4, 7) + struct.pack(">iq", 8, 8)
        + struct.pack(">i?", 1, True) + struct.pack(">i", 6) + "医院".encode())


def test_rows_encoded_a_column_at_a_time_are_those_encoded_one_by_one():
    rng = np.random.default_rng(4)
    n = 500
    texts = [rng.choice(["", "a", "医院", "x" * 40]) for _ in range(n)]
    arr = np.frombuffer("".join(texts).encode() + bytes(bytefields.PAD), np.uint8)
    lengths = np.array([len(t.encode()) for t in texts])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    numbers = rng.integers(0, 2**31 - 1, n)
    null = lengths == 0
    fields = [binarycopy.Const(struct.pack(">q", 42)), binarycopy.Fixed(binarycopy.be32(numbers), None),
              binarycopy.Ranges(arr, starts, lengths, null)]
    columns = b"".join(binarycopy.encode_columns(n, fields))
    rows = {binarycopy.encode_values([42, int(k), t or None], ["bigint", "integer", "text"])
            for k, t in zip(numbers, texts)}
    tuples, at = set(), 0
    while at < len(columns):  # split the tuples again: 3 fields each
        start, at = at, at + 2
        for _ in range(3):
            size = struct.unpack(">i", columns[at:at + 4])[0]
            at += 4 + max(size, 0)
        tuples.add(columns[start:at])
    assert tuples == rows


def test_key_hashes_of_a_column_are_those_of_single_values():
    values = [b"", b"a", b"A000000001", "医院".encode() * 20, b"x" * 64, b"y" * 65, b"11010519491231002X"]
    one_by_one = [int(keyhash.bytes_hashes([v])[0]) for v in values]
    assert keyhash.bytes_hashes(values).tolist() == one_by_one
    grid = np.zeros((len(values), 24), np.uint8)
    short = [i for i, v in enumerate(values) if len(v) <= 24]
    for i in short:
        grid[i, :len(values[i])] = np.frombuffer(values[i], np.uint8)
    lengths = np.array([len(v) for v in values])
    words = keyhash.word_hashes(grid.view("<u8"), lengths)
    assert [int(words[i]) for i in short] == [one_by_one[i] for i in short]
    assert len(set(one_by_one)) == len(values)


def test_the_rows_whose_keys_repeat_are_found():
    rng = np.random.default_rng(5)
    small = rng.integers(0, 2**20, 50000)  # few distinct hashes: many repeats
    hashes = (small.astype(np.uint64) << np.uint64(32)) | rng.integers(0, 2**32, 50000).astype(np.uint64)
    keys = keyhash.KeyHashes()
    for at in range(0, 50000, 7000):  # grows past its first size
        keys.add(hashes[at:at + 7000], np.arange(at, min(at + 7000, 50000)) + 2)
    counts = np.bincount(small)
    assert keys.repeated() == [i + 2 for i, h in enumerate(small.tolist()) if counts[h] > 1]


def _hostile_csv(rng: random.Random) -> str:
    cells = ["a", "", "医院", "x,y", 'say "hi"', "two\nlines", "cr\rhere", " ", "𠀀", "end\r\n"]
    lines = []
    for _ in range(400):
        if rng.random() < 0.05:
            lines.append("")
            continue
        row = [rng.choice(cells) for _ in range(rng.choice([3, 3, 3, 2, 4]))]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        lines.append(buffer.getvalue())
    return "h1,h2,h3\r\n" + rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["\n", "\r\n"])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_pieces_frame_the_records_the_csv_module_reads_from_the_whole_file(tmp_path: Path, seed, encoding):
    text = _hostile_csv(random.Random(seed))
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode(encoding))
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, strict=True)
        expected = [(reader.line_num, row) for row in reader if row and "".join(row).strip()]
    frames = framing.Framing(path, encoding, encoding.upper(), piece_bytes=97)
    header, line = frames.header()
    got = [(line, header)]
    for piece in frames.pieces():
        if piece.rows is not None:
            got += list(zip(piece.numbers, piece.rows))
            continue
        buf = piece.buf
        for number, start, end in bytefields.split_lines(buf, 1000, piece.extent.base_line).others:  # none fit
            row = buf[start:end].decode().split(",")
            if row != [""] and "".join(row).strip():
                got.append((number, row))
    frames.close()
    assert sorted(got) == expected


def test_an_unclosed_quote_is_a_bad_file_at_its_line(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_bytes(b'h1,h2\na,b\n"c,d\n' + b"e,f\n" * 100)
    frames = framing.Framing(path, "utf-8", "UTF-8", piece_bytes=64)
    frames.header()
    with pytest.raises(framing.BadFile, match="line 103"):
        list(frames.pieces())
    frames.close()


def test_dates_go_as_days_since_2000():
    assert binarycopy.days_of(date(2000, 1, 1)) == 0
    assert binarycopy.days_of(date(2000, 1, 1) + timedelta(days=9000)) == 9000


def test_a_last_line_cut_short_without_a_line_end_is_a_truncated_file(tmp_path: Path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"h1,h2,h3\n" + b"a,b,c\n" * 50 + b"a,b")
    frames = framing.Framing(path, "utf-8", "UTF-8", piece_bytes=64)
    frames.header()
    with pytest.raises(framing.BadFile, match="its last line 52 stops after 2 of 3 fields"):
        list(frames.pieces())
    frames.close()
