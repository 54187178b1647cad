"""公民身份号码 (resident ID numbers), GB 11643-1999 and the older 15-digit form.

Validation returns a reason in plain words, never the number itself: ID numbers must
not reach logs or error messages.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from itertools import compress, count, repeat
from operator import is_, itemgetter, ne
from typing import NamedTuple

from include.errors import InvalidIdNumber

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # of the 17 digits, GB 11643
CHECK_CHARS = "10X98765432"  # the check character of each remainder mod 11
_FORM_18 = re.compile(r"\d{17}[\dX]")
_FORM_15 = re.compile(r"\d{15}")


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits.

    The weights are 2**17 .. 2**1 mod 11, and 13 = 2 (mod 11), so the 17 digits read as a
    base-13 number are half the weighted sum, mod 11: one C call instead of a 17-step loop
    (the loader checks every ID number it reads)."""
    if len(first17) == 17 and first17.isdecimal():
        return CHECK_CHARS[2 * int(first17, 13) % 11]
    # anything else fails here as it always did (int() of a non-digit, zip of another length)
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


class ParsedId(NamedTuple):  # a tuple, not a dataclass: the loader makes one per row, 1.4 million a file
    canonical: str  # the 18-character form, upper-case X
    birth_date: date
    sex: str  # "M" or "F", from the sequence number's parity


# An ID number (15 digits, or 17 digits and a check character) standing alone in a text: the
# one definition of what is masked in messages, check results and alerts.
IN_TEXT = re.compile(r"(?<![\d.])(?:\d{17}[\dXx]|\d{15})(?![\d.])")
MASK = "[masked]"


def mask(text: str) -> str:
    """`text` with anything shaped like an ID number replaced by [masked]."""
    return IN_TEXT.sub(MASK, text)


@lru_cache(maxsize=1 << 16)  # birth dates repeat (a century is 36,525 days); bounded, so memory stays flat
def _real_birth_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def _birth_date(yyyymmdd: str) -> date:
    born = _real_birth_date(yyyymmdd)
    if born is None:
        raise InvalidIdNumber("its birth-date digits are not a real date")
    return born


def parse(value: str) -> ParsedId:
    """Validate an ID number and return its canonical 18-character form.

    A lower-case x is the same as X; a 15-digit number (birth date YYMMDD, century 19)
    is valid when its date is, and is the same person as its 18-digit form.
    """
    number = value.strip().upper()
    if _FORM_18.fullmatch(number):
        born = _birth_date(number[6:14])
        if check_character(number[:17]) != number[17]:
            raise InvalidIdNumber("its check character does not match (GB 11643, ISO 7064 MOD 11-2)")
    elif _FORM_15.fullmatch(number):
        born = _birth_date("19" + number[6:12])
        first17 = number[:6] + "19" + number[6:15]
        number = first17 + check_character(first17)
    else:
        raise InvalidIdNumber("it is neither 18 characters (17 digits and a digit or X) nor 15 digits")
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ParsedId(number, born, sex)


# Plain 18-character numbers (ASCII digits, upper-case X): one, or a column of them, one a line.
_PLAIN_18 = re.compile(r"[0-9]{17}[0-9X]")
_PLAIN_18_LINES = re.compile(r"(?:[0-9]{17}[0-9X]\n)*[0-9]{17}[0-9X]")
_BIRTH_DIGITS, _SEX_DIGIT = itemgetter(slice(6, 14)), itemgetter(16)
_SEX_OF_DIGIT = {d: "M" if int(d) % 2 == 1 else "F" for d in "0123456789"}

ParsedColumn = tuple[list[str | None], list[date | None], list[str | None]]  # canonical, birth date, sex


def parse_column(values: list[str]) -> ParsedColumn:
    """What `parse` gives for each value (canonical form, birth date, sex: three lists) where
    the value is a valid plain 18-character number; None in the three lists elsewhere (parse
    those one by one: they may be valid all the same, or say why not).

    The loader's fast path: a regex match over the whole column and loops that run in C
    cost a fraction of calling `parse` per number. (A value with white space around it
    is not plain: it is left to `parse`.)"""
    numbers = values
    text = "\n".join(numbers)
    if "x" in text:  # the only lower-case letter a valid number may hold
        numbers = list(map(str.upper, values))
        text = "\n".join(numbers)
    if text.count("\n") == len(numbers) - 1 and _PLAIN_18_LINES.fullmatch(text):
        return _parse_plain(numbers, text)  # the usual case: every value plain
    where = list(compress(count(), map(_PLAIN_18.fullmatch, numbers)))
    plain = [numbers[i] for i in where]
    found = _parse_plain(plain, "\n".join(plain)) if plain else ([], [], [])
    column: ParsedColumn = ([None] * len(numbers), [None] * len(numbers), [None] * len(numbers))
    for spread, parsed in zip(column, found):
        for i, value in zip(where, parsed):
            spread[i] = value
    return column


def _parse_plain(numbers: list[str], text: str) -> ParsedColumn:
    """parse_column of plain numbers, `text` being them one a line."""
    # The check: with X as 10, all 18 characters read in base 13 leave 1 mod 11 (13 = 2 mod 11,
    # see check_character; the check value v of remainder r satisfies r + v = 1 mod 11).
    checks = list(map(int.__mod__, map(int, text.replace("X", "a").split("\n"), repeat(13)), repeat(11)))
    births = list(map(_real_birth_date, map(_BIRTH_DIGITS, numbers)))
    sexes = list(map(_SEX_OF_DIGIT.__getitem__, map(_SEX_DIGIT, numbers)))
    canonical = list(numbers)
    if checks.count(1) != len(numbers) or None in births:  # not valid after all: None, as promised
        for i in compress(count(), map(ne, checks, repeat(1))):
            canonical[i] = births[i] = sexes[i] = None
        for i in compress(count(), map(is_, births, repeat(None))):
            canonical[i] = sexes[i] = None
    return canonical, births, sexes


def make(area_code: str, born: date, sequence: int) -> str:
    """Build a valid 18-character ID number (used by the synthetic-data generator)."""
    first17 = f"{area_code[:6]}{born:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)


def to_15_digit(number: str) -> str:
    """The old 15-digit form of an 18-character number born in the 1900s."""
    if number[6:8] != "19":
        raise ValueError("only numbers of people born 1900-1999 have a 15-digit form")
    return number[:6] + number[8:17]
