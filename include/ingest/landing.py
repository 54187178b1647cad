"""The landing folder: which files are there, and what their names say."""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from include.contract import idnumber, registry
from include.errors import BadFileName

# ASCII by contract: [0-9], not \d (which takes full-width and other digits that int() reads too)
_NAME = re.compile(r"(?P<source>[a-z]+_[a-z]+)_(?P<date>[0-9]{8})(?:_(?P<n>[0-9]+))?\.(?P<ext>[a-z]+)")
MAX_DELIVERY_NO = 2**31 - 1  # the ledger's integer


@dataclass(frozen=True)
class DeliveryName:
    source: registry.Source
    as_of: date
    delivery_no: int  # 1 for the first delivery, n for `_n`

    @property
    def order(self) -> tuple[date, int]:
        """"Newer" means a later as-of date, then a higher n."""
        return (self.as_of, self.delivery_no)


# Runs of anything but printable ASCII: a contract name has none, a person's name in Chinese does
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]+")
# An ID number's shape in a name (idnumber.IN_TEXT would spare one before ".csv": it reads decimals)
_ID_IN_NAME = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")


def shown_name(file_name: str) -> str:
    """A file's name as the ledger, logs, Airflow and lineage keep it: a name of the contract's
    form as it is; in any other, ID numbers (a delivery number included) masked and every run
    of characters outside printable ASCII (a person's name, control characters) as one `*`.
    Names are ASCII by contract, so a delivery's name is never changed by this; a hostile or
    careless one loses what may be personal data. (A name in pinyin cannot be told from a word.)"""
    return _NOT_PRINTABLE_ASCII.sub("*", _ID_IN_NAME.sub(idnumber.MASK, file_name))


def parse_name(file_name: str) -> DeliveryName:
    """`<source>_<YYYYMMDD>[_n].<ext>` -> its source, as-of date and delivery number."""
    m = _NAME.fullmatch(file_name)
    if not m:
        file_name = shown_name(file_name)
        raise BadFileName(f"{file_name}: the name is not <source>_<YYYYMMDD>[_n].<ext>")
    code = m["source"]
    if code not in registry.SOURCES_BY_CODE:
        raise BadFileName(f"{file_name}: {code!r} is not a known source")
    src = registry.SOURCES_BY_CODE[code]
    if m["ext"] != src.file_format:
        raise BadFileName(f"{file_name}: {code} is delivered as .{src.file_format}, not .{m['ext']}")
    digits = m["date"]
    try:
        as_of = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise BadFileName(f"{file_name}: {digits} is not a real date") from None
    n = m["n"]
    if n is not None and int(n) > MAX_DELIVERY_NO:  # the digits are not repeated: they may be an ID number
        raise BadFileName(f"{file_name[:len(code)]}…: a delivery number of {len(n)} digits is beyond "
                          f"any real one (at most {MAX_DELIVERY_NO})")
    if n is not None and (int(n) < 2 or n != str(int(n))):
        raise BadFileName(f"{file_name}: a later delivery is numbered _2, _3, ... (got _{n})")
    return DeliveryName(src, as_of, int(n) if n else 1)


@dataclass(frozen=True)
class LandedFile:
    path: str
    name: str
    sha256: str
    bytes: int
    arrived_at: datetime  # the file's modification time: when it landed in the folder
    mtime_ns: int  # with `bytes`, what must not change while the file is loaded

    def changed(self, path: Path) -> bool:
        """Whether the file is no longer what was fingerprinted (written to since)."""
        stat = path.stat()
        return (stat.st_size, stat.st_mtime_ns) != (self.bytes, self.mtime_ns)


def size_and_arrival(path: Path, stat: os.stat_result | None = None) -> tuple[int, datetime]:
    """What the ledger keeps of a file besides its name and hash: its size, and its modification
    time as its arrival."""
    stat = stat or path.stat()
    return stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=UTC)


def fingerprint(path: Path) -> LandedFile:
    before = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    size, arrived = size_and_arrival(path, before)
    return LandedFile(str(path), path.name, digest.hexdigest(), size, arrived, before.st_mtime_ns)


MARKER_SUFFIX = ".done"  # with markers on, `<name>.done` beside a file says it is complete


@dataclass(frozen=True)
class Scan:
    ready: list[Path]  # complete: to be loaded, in delivery order
    waiting: list[Path]  # still being written (or, with markers, without their marker yet)
    ignored: list[tuple[Path, str]]  # not deliveries, each with the reason


def _not_a_delivery(path: Path, markers: bool) -> str | None:
    """Why a folder entry is not read at all, or None for a delivery. Symbolic links are not
    followed: nothing outside the landing folder is read."""
    if path.is_symlink():
        return "a symbolic link: nothing outside the landing folder is read"
    if path.name.startswith("."):
        return "a hidden name (it starts with a dot)"
    if not path.is_file():
        return "not a regular file (a folder, a socket, ...)"
    if markers and path.name.endswith(MARKER_SUFFIX):
        return "a completion marker"
    return None


def entry_with_inode(landing_dir: Path, inode: int) -> Path | None:
    """The landing folder's regular file (not a link) with this inode, if it is still there."""
    for entry in os.scandir(landing_dir):
        if entry.inode() == inode and entry.is_file(follow_symlinks=False):
            return Path(entry.path)
    return None


def is_settled(path: Path, settle_seconds: float, markers: bool, now: float) -> bool:
    """A file is complete once its size and modification time have held still for the settle
    time (a writer appending moves both), or, when the operator uses markers, once its
    `<name>.done` exists."""
    if markers:
        return path.with_name(path.name + MARKER_SUFFIX).is_file()
    return now - path.stat().st_mtime >= settle_seconds


def scan(landing_dir: Path, settle_seconds: float = 0, markers: bool = False, now: float | None = None) -> Scan:
    """Every regular file in the landing folder (not hidden, not a marker), in delivery order
    where the names allow it, unparseable names last (they are reported, not lost); those
    not complete yet are left for a later run."""
    now = time.time() if now is None else now
    why_not = {p: _not_a_delivery(p, markers) for p in sorted(landing_dir.iterdir())}
    files = [p for p, reason in why_not.items() if reason is None]
    settled = {p: is_settled(p, settle_seconds, markers, now) for p in files}

    def order(p: Path):
        try:
            d = parse_name(p.name)
            return (0, d.source.code, d.as_of, d.delivery_no, p.name)
        except BadFileName:
            return (1, "", date.min, 0, p.name)

    ordered = sorted(files, key=order)
    return Scan([p for p in ordered if settled[p]], [p for p in ordered if not settled[p]],
                [(p, reason) for p, reason in why_not.items() if reason is not None])
