"""Values as fields of PostgreSQL's COPY text format, exactly as psycopg's `Copy.write_row`
writes them, so that the loader can build its COPY data itself, in large chunks."""

from __future__ import annotations

import re

import psycopg

NULL = "\\N"
# The characters psycopg's write_row escapes in a text field, and NUL, which it refuses.
_SPECIAL = re.compile(r"[\b\t\n\v\f\r\\\x00]")
_ESCAPES = str.maketrans({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
                          "\\": "\\\\"})


def escaped(text: str) -> str:
    """Text as a COPY field."""
    if _SPECIAL.search(text) is None:
        return text
    if "\x00" in text:
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return text.translate(_ESCAPES)


def field(value: object) -> str:
    """A loader value (None, str, bool, int, Decimal, date) as a COPY field."""
    if value is None:
        return NULL
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return escaped(value)
    return str(value)  # int and Decimal as digits, a date as YYYY-MM-DD: as psycopg dumps them
