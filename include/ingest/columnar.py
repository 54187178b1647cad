"""The columnar path: a piece of a CSV file checked a column at a time, with numpy over its bytes.

Nearly every delivered row is valid. Here the rows of a piece (UTF-8 bytes, fields found by
`bytefields.split_lines` or laid out by `bytefields.from_cells`) are checked a column at a
time, each column by its kind (from the registry) and each row rule (from `rules.row_rules`)
vectorised. The checks only ever vouch for a row: a row they are not sure of (a value outside
its column's domain, digits that are not ASCII, white space beyond ASCII, a control character,
a date before 1800, a warning) is left to `validate.RowValidator`, which alone says what is
wrong, with every reason of the row. For the rows
vouched for, it gives what the row validator would: the raw values (as binary COPY fields, see
`binarycopy`) and the key's hash (`keyhash`).
"""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import NamedTuple

import numpy as np

from include import config
from include.contract import registry
from include.contract.idnumber import CHECK_CHARS, WEIGHTS
from include.ingest import bytefields, keyhash, rules
from include.ingest.binarycopy import Fixed, Grid, Ranges, be32
from include.ingest.validate import RowValidator

_WS = np.zeros(256, bool)
_WS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True  # what str.strip takes off, of ASCII
_CHECK = np.frombuffer(CHECK_CHARS.encode(), np.uint8)
_WEIGHTS = np.array(WEIGHTS, np.int64)
_EPOCH = date(2000, 1, 1).toordinal()  # PostgreSQL's day 0


class Checked(NamedTuple):
    ok: np.ndarray  # rows vouched for
    fields: list  # binarycopy fields of the vouched rows (raw_columns order, after _file_id, _row_number)
    keys: np.ndarray  # key hash of every row (meaningful for the vouched ones)


def _simple_pattern(pattern: str) -> list[np.ndarray] | None:
    """A pattern of character classes with counts ([A-Z], \\d, [0-9A-Z]{18}, a literal) as a
    table of allowed bytes per position, or None for any other pattern."""
    tables: list[np.ndarray] = []
    for m in re.finditer(r"(\[[^\]]+\]|\\d|[A-Za-z0-9-])(?:\{(\d+)\})?|(.)", pattern):
        if m[3] is not None:
            return None
        allowed = np.zeros(256, bool)
        atom = m[1]
        if atom == r"\d":
            allowed[48:58] = True
        elif atom.startswith("["):
            for lo, hi in re.findall(r"(.)(?:-(.))?", atom[1:-1]):
                allowed[ord(lo):ord(hi or lo) + 1] = True
        else:
            allowed[ord(atom)] = True
        tables += [allowed] * int(m[2] or 1)
    return tables


class Vouch:
    """The columnar checks of one file, compiled from its RowValidator (the columns' places,
    the as-of date) and the rule table."""

    def __init__(self, validator: RowValidator, pseudonyms):
        self.validator = validator
        self.src = validator.src
        self.pseudonyms = pseudonyms  # (n, 18) uint8 canonical IDs -> (n, 64) uint8 hex
        self.towns = np.array(sorted(int(t) for t in registry.town_units()), np.int64)
        self.as_of = (validator.as_of.toordinal() - _EPOCH)
        self.positions = [cell.position for cell in validator.cells]
        self.patterns = {col.name: _simple_pattern(col.pattern) for col in self.src.columns
                         if col.kind == registry.PATTERN}
        self.rules = rules.row_rules(self.src)
        self.key = [validator.index[k] for k in self.src.key]
        for rule in self.rules:
            if rule.kind not in RULE_CHECKS:
                raise NotImplementedError(rule.kind)

    def check(self, rec: bytefields.Records) -> Checked:
        arr, n = rec.arr, len(rec.numbers)
        flag = np.zeros(n, bool)
        self._control_characters(rec, flag)
        cols = self._stripped(arr, rec.fs[:, self.positions], rec.fe[:, self.positions])
        parsed: list[dict] = []
        for col, c in zip(self.src.columns, cols):
            parsed.append(KIND_CHECKS[col.kind](self, col, arr, c, flag))
        for rule in self.rules:
            RULE_CHECKS[rule.kind](self, rule, arr, cols, parsed, flag)
        ok = ~flag
        keys = keyhash.combine([self._key_part(arr, cols[i], parsed[i]) for i in self.key])
        fields = []
        sel = np.flatnonzero(ok)
        for col, c, p in zip(self.src.columns, cols, parsed):
            fields += _outputs(self, col, arr, c, p, sel)
        return Checked(ok, fields, keys)

    def _key_part(self, arr: np.ndarray, c: bytefields.Column, parsed: dict) -> np.ndarray:
        """A key part's hashes (keyhash.part_hashes of its bytes): of an ID number's canonical
        form, else of the stripped text."""
        if "grid" in parsed:  # the canonical form: 18 bytes where not empty
            return keyhash.word_hashes(parsed["grid"].view("<u8"), np.where(c.L > 0, 18, 0))
        if len(c.L) and c.L.max() <= 32:
            return keyhash.word_hashes(bytefields.grid(arr, c, max(8, -(-int(c.L.max()) // 8) * 8))[1], c.L)
        return keyhash.part_hashes(arr, c.s, c.L)

    # ---- common to every column ------------------------------------------------------

    @staticmethod
    def _control_characters(rec: bytefields.Records, flag: np.ndarray) -> None:
        """Rows holding a control character (NUL, a line end inside a field, ...): the row path's."""
        arr = rec.arr[:len(rec.arr) - bytefields.PAD]
        low = np.flatnonzero(arr < 32)
        found = arr[low]
        odd = low[(found != 10) & (found != 13) & (found != 9)]
        # in a plain piece a CR or LF ends a line; fields from the csv module may hold them
        inside = low[(found == 10) | (found == 13)] if rec.cells else low[:0]
        for where in (odd, inside):
            if not len(where):
                continue
            row = np.searchsorted(rec.lo, where, side="right") - 1
            keep = (row >= 0) & (where < rec.hi[np.maximum(row, 0)])
            flag[row[keep]] = True

    @staticmethod
    def _stripped(arr: np.ndarray, s: np.ndarray, e: np.ndarray) -> list[bytefields.Column]:
        """Each column's fields without the ASCII white space around them (all columns at once)."""
        s, e = s.copy(), e.copy()
        if s.size:
            while True:
                m = (s < e) & _WS[arr[s]]
                if not m.any():
                    break
                s[m] += 1
            while True:
                m = (s < e) & _WS[arr[np.maximum(e - 1, 0)]]
                if not m.any():
                    break
                e[m] -= 1
        lengths = e - s
        return [bytefields.Column(s[:, i], lengths[:, i], {}) for i in range(s.shape[1])]

    def _empty(self, col: registry.Column, c: bytefields.Column, flag: np.ndarray) -> np.ndarray:
        empty = c.L == 0
        if col.required:
            flag |= empty
        return empty

    # ---- column kinds: each gives what its outputs and the row rules need ---------------

    def _id_number(self, col, arr, c: bytefields.Column, flag) -> dict:
        """18 characters (a lower-case x read as X) or 15 digits (made 18, as idnumber.parse
        does); the canonical form is what is pseudonymized and keyed."""
        empty = self._empty(col, c, flag)
        grid = bytefields.grid(arr, c, 24)[0].copy()  # made canonical in place
        bad = bytefields.non_digits(grid.view("<u8"))
        last = grid[:, 17]
        last_ok = ((last - np.uint8(48)) <= 9) | (last == 88) | (last == 120)
        form18 = (c.L == 18) & bytefields.all_digits(bad, range(17)) & last_ok
        form15 = (c.L == 15) & bytefields.all_digits(bad, range(15))
        grid[:, 17] = np.where(last == 120, np.uint8(88), last)  # x is X
        rows = np.flatnonzero(form15)
        if len(rows):
            old = grid[rows]
            grid[rows, 8:17] = old[:, 6:15]
            grid[rows, 6:8] = np.frombuffer(b"19", np.uint8)
        total = np.zeros(len(grid), np.int32)
        for i, weight in enumerate(WEIGHTS):
            total += (grid[:, i].astype(np.int32) - 48) * weight
        expected = _CHECK[total % 11]
        if len(rows):
            grid[rows, 17] = expected[rows]
        ok = (form18 & (expected == grid[:, 17])) | form15
        number = bytefields.number
        real, days = bytefields.real_days(number(grid, 6, 10), number(grid, 10, 12), number(grid, 12, 14))
        ok &= real
        flag |= ~ok & ~empty  # invalid: the row path says why (a reason, or a warning when optional)
        return {"grid": grid, "days": days, "male": (grid[:, 16] & 1) == 1, "empty": empty}

    def _date(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        if col.date_format == registry.YMD:
            grid, words = bytefields.grid(arr, c, 8)
            form = (c.L == 8) & bytefields.all_digits(bytefields.non_digits(words), range(8))
            y, m, d = bytefields.number(grid, 0, 4), bytefields.number(grid, 4, 6), bytefields.number(grid, 6, 8)
        elif col.date_format == registry.ISO:
            grid, words = bytefields.grid(arr, c, 16)
            form = (c.L == 10) & (grid[:, 4] == 45) & (grid[:, 7] == 45)
            form &= bytefields.all_digits(bytefields.non_digits(words), (0, 1, 2, 3, 5, 6, 8, 9))
            y, m, d = bytefields.number(grid, 0, 4), bytefields.number(grid, 5, 7), bytefields.number(grid, 8, 10)
        else:  # Excel dates come from workbooks, which take the row path
            flag |= ~empty
            return {"empty": empty, "days": np.zeros(len(c.s), np.int64)}
        real, days = bytefields.real_days(y, m, d)
        flag |= ~(form & real) & ~empty
        return {"empty": empty, "days": days}

    def _integer(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        grid, words = bytefields.grid(arr, c, 16)
        bad = bytefields.non_digits(words) & bytefields.LENGTH_MASKS[np.minimum(c.L, 16), :2]
        form = (c.L >= 1) & (c.L <= 9) & (bad[:, 0] == 0) & (bad[:, 1] == 0)
        value = np.zeros(len(c.s), np.int64)
        for i in range(9):
            value = np.where(i < c.L, value * 10 + grid[:, i] - 48, value)
        flag |= ~(form & (value >= col.minimum) & (value <= col.maximum)) & ~empty
        return {"empty": empty, "value": value}

    def _enum(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        flag |= ~_one_of(arr, c, col.values) & ~empty
        return {"empty": empty}

    def _area(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        grid, words = bytefields.grid(arr, c, 16)
        ok = (c.L == 12) & bytefields.all_digits(bytefields.non_digits(words), range(12))
        town = bytefields.number(grid, 0, 9)
        known = self.towns[np.minimum(np.searchsorted(self.towns, town), len(self.towns) - 1)] == town
        if col.district_rule == registry.IN_DISTRICT:
            ok &= known
        elif col.district_rule == registry.DISTRICT_IF_INSIDE:
            ok &= known | (town // 1000 != int(registry.DISTRICT_CODE))
        flag |= ~ok & ~empty
        return {"empty": empty}

    def _county(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        _, words = bytefields.grid(arr, c, 8)
        flag |= ~((c.L == 6) & bytefields.all_digits(bytefields.non_digits(words), range(6))) & ~empty
        return {"empty": empty}

    def _pattern(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        tables = self.patterns[col.name]
        if tables is None or len(tables) > 32:  # not a pattern this path knows: the row path checks it
            flag |= ~empty
            return {"empty": empty}
        grid, _ = bytefields.grid(arr, c, max(8, -(-len(tables) // 8) * 8))
        ok = len(tables) == c.L
        for i, allowed in enumerate(tables):
            ok &= allowed[grid[:, i]]
        flag |= ~ok & ~empty
        return {"empty": empty}

    def _text(self, col, arr, c: bytefields.Column, flag) -> dict:
        empty = self._empty(col, c, flag)
        flag |= c.L > config.MAX_CELL_CHARS  # bytes, not characters: the row path counts them
        flag |= _unicode_space_edges(arr, c) & ~empty
        if col.kind == registry.TEXT:
            flag |= _holds_id_digits(arr, c)
        return {"empty": empty}

    def _decimal(self, col, arr, c: bytefields.Column, flag) -> dict:  # workbooks only: the row path's
        empty = self._empty(col, c, flag)
        flag |= ~empty
        return {"empty": empty}


@functools.cache
def _packed(values: tuple[str, ...], words: int) -> list[tuple[int, list[np.uint64]]]:
    out = []
    for v in values:
        data = v.encode("utf-8")
        padded = data + b"\0" * (8 * words - len(data))
        out.append((len(data), [np.uint64(w) for w in np.frombuffer(padded, "<u8")]))
    return out


@functools.cache
def _codes(values: tuple[str, ...]) -> np.ndarray:
    return np.array(sorted(w[0] for _, w in _packed(values, 1)), np.uint64)


def _one_of(arr: np.ndarray, c: bytefields.Column, values: tuple[str, ...]) -> np.ndarray:
    """Fields whose text is one of `values` (compared exactly, eight bytes at a time)."""
    longest = max(len(v.encode("utf-8")) for v in values)
    if longest > 32:
        return np.zeros(len(c.s), bool)  # the row path compares them
    width = max(8, -(-longest // 8) * 8)
    _, words = bytefields.grid(arr, c, width)
    if width == 8 and len(values) > 4:  # one word each: look the words up
        codes = _codes(values)
        at = np.minimum(np.searchsorted(codes, words[:, 0]), len(codes) - 1)
        return (codes[at] == words[:, 0]) & (c.L <= 8)
    found = np.zeros(len(c.s), bool)
    for length, packed in _packed(values, width // 8):
        match = length == c.L
        for j, w in enumerate(packed):
            match &= words[:, j] == w
        found |= match
    return found


def _unicode_space_edges(arr: np.ndarray, c: bytefields.Column) -> np.ndarray:
    """Fields that may begin or end with white space beyond ASCII (U+0085, U+00A0, U+1680,
    U+2000..U+205F, U+3000): a superset, the row path strips exactly."""
    head = bytefields.gather(arr, c.s, 2)
    tail = bytefields.gather(arr, np.maximum(c.s + c.L - 3, 0), 3)
    lead = _SPACE_LEAD[head[:, 0]] & _SPACE_NEXT[head[:, 1]]
    two = (tail[:, 1] == 0xC2) & _SPACE_LAST2[tail[:, 2]]
    three = _SPACE_LEAD3[tail[:, 0]] & _SPACE_NEXT[tail[:, 1]]
    return lead | two | three


def _table(*values: int) -> np.ndarray:
    table = np.zeros(256, bool)
    table[list(values)] = True
    return table


_SPACE_LEAD = _table(0xC2, 0xE1, 0xE2, 0xE3)
_SPACE_LEAD3 = _table(0xE1, 0xE2, 0xE3)
_SPACE_NEXT = _table(0x85, 0xA0, 0x9A, 0x80, 0x81)
_SPACE_LAST2 = _table(0x85, 0xA0)


def _holds_id_digits(arr: np.ndarray, c: bytefields.Column) -> np.ndarray:
    """Free-text fields with 17 ASCII digits in a row (maybe an ID number, to be masked): the
    row path looks."""
    long = np.flatnonzero(c.L >= 18)
    held = np.zeros(len(c.s), bool)
    if not len(long):
        return held
    width = int(min(c.L[long].max(), 256))
    grid = bytefields.gather(arr, c.s[long], width)
    digit = ((grid - np.uint8(48)) <= 9) & (np.arange(width)[None, :] < c.L[long][:, None])
    run = np.zeros((len(long), width + 1), np.int16)
    np.cumsum(digit, axis=1, out=run[:, 1:])
    held[long] = (run[:, 17:] - run[:, :-17] == 17).any(axis=1) | (c.L[long] > 256)
    return held


KIND_CHECKS = {
    registry.ID_NUMBER: Vouch._id_number,
    registry.PERSON_NAME: Vouch._text,
    registry.TEXT: Vouch._text,
    registry.ENUM: Vouch._enum,
    registry.DATE: Vouch._date,
    registry.INTEGER: Vouch._integer,
    registry.DECIMAL: Vouch._decimal,
    registry.AREA_CODE: Vouch._area,
    registry.COUNTY_CODE: Vouch._county,
    registry.PATTERN: Vouch._pattern,
}


# ---- row rules: one implementation per rules.RuleKind; each only flags rows -----------------


def _required_when(v: Vouch, rule: rules.RowRule, arr, cols, parsed, flag) -> None:
    i, other = v.validator.index[rule.column], v.validator.index[rule.other]
    flag |= parsed[i]["empty"] & _one_of(arr, cols[other], rule.values)


def _not_after(v: Vouch, rule: rules.RowRule, arr, cols, parsed, flag) -> None:
    p = parsed[v.validator.index[rule.column]]
    flag |= ~p["empty"] & (p["days"] > v.as_of)


def _same_birth_date(v: Vouch, rule: rules.RowRule, arr, cols, parsed, flag) -> None:
    pid, born = parsed[v.validator.index[rule.column]], parsed[v.validator.index[rule.other]]
    flag |= ~pid["empty"] & ~born["empty"] & (pid["days"] != born["days"])


def _same_sex(v: Vouch, rule: rules.RowRule, arr, cols, parsed, flag) -> None:
    pid, other = parsed[v.validator.index[rule.column]], cols[v.validator.index[rule.other]]
    males = tuple(t for t, s in rules.SEX_OF_CODE.items() if s == "M")
    females = tuple(t for t, s in rules.SEX_OF_CODE.items() if s == "F")
    male, female = _one_of(arr, other, males), _one_of(arr, other, females)
    flag |= ~pid["empty"] & ~((male & pid["male"]) | (female & ~pid["male"]))


RULE_CHECKS = {
    rules.RuleKind.REQUIRED_WHEN: _required_when,
    rules.RuleKind.NOT_AFTER_AS_OF: _not_after,
    rules.RuleKind.SAME_BIRTH_DATE: _same_birth_date,
    rules.RuleKind.SAME_SEX: _same_sex,
}


# ---- the raw values of the vouched rows, as binary COPY fields ------------------------------


def _outputs(v: Vouch, col: registry.Column, arr, c: bytefields.Column, p: dict, sel: np.ndarray) -> list:
    kind = col.kind
    if kind == registry.PERSON_NAME:
        return []
    null = p["empty"][sel]
    if kind == registry.ID_NUMBER:
        hexed = v.pseudonyms(np.ascontiguousarray(p["grid"][sel, :18]), ~null)  # the canonical 18 characters
        sex = np.where(p["male"][sel], np.uint8(77), np.uint8(70))[:, None]  # M, F
        out = [Fixed(hexed, null), Fixed(be32(p["days"][sel]), null), Fixed(sex, null)]
        if not col.required:
            out.append(Fixed(np.ones((len(sel), 1), np.uint8), null))
        return out
    if kind == registry.DATE:
        return [Fixed(be32(p["days"][sel]), null)]
    if kind == registry.INTEGER:
        return [Fixed(be32(p["value"][sel]), null)]
    lengths = c.L[sel]
    widths = [w for w in c.grids if len(lengths) and w >= lengths.max()]
    if widths:  # the bytes were gathered for the checks already
        grid = c.grids[min(widths)]
        return [Grid(grid if len(sel) == len(grid) else grid[sel], lengths, null)]
    return [Ranges(arr, c.s[sel], lengths, null)]


