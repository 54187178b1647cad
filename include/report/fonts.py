"""The site's CJK font: a subset of a system CJK font holding exactly the characters the
site writes, shipped in the site (assets/), so that its Chinese renders on a machine with no
CJK font and with no font fetched from anywhere.

The full Noto Sans CJK face is about 16 MB; the subset of the few hundred characters of a
report is a few hundred kB (WOFF, zlib: no brotli needed). The font is looked for where
Debian's fonts-noto-cjk (and similar packages) install theirs (config.REPORT_CJK_FONTS);
without one the site names the system CJK fonts only (charts.FONT_FAMILY) and says so.
"""

from __future__ import annotations

import logging
from pathlib import Path

from include import config

log = logging.getLogger(__name__)

FONT_FILE = "cjk-subset.woff"
FAMILY = "FPWH CJK"
_SIMPLIFIED = ("SC", "Simplified", "GB")  # a collection's face for Simplified Chinese


def find_font(candidates: tuple[Path, ...] = config.REPORT_CJK_FONTS) -> Path | None:
    return next((path for path in candidates if path.is_file()), None)


def _face(path: Path):
    """The Simplified Chinese face of a font file (a .ttc holds several), else its first."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.suffix.lower() not in (".ttc", ".otc"):
        return TTFont(path, lazy=False)
    faces = TTCollection(path, lazy=False).fonts
    for face in faces:
        family = face["name"].getDebugName(1) or ""
        if any(mark in family.split() or family.endswith(mark) for mark in _SIMPLIFIED):
            return face
    return faces[0]


def write_subset(text: str, assets: Path, font: Path | None = None) -> str | None:
    """Write the subset of `font` (by default the first of config.REPORT_CJK_FONTS found) for
    the characters of `text` into `assets`; its file name, or None without a font."""
    from fontTools import subset

    font = font or find_font()
    if font is None:
        log.warning("no CJK font found (%s): the report relies on the reader's CJK fonts",
                    ", ".join(str(p) for p in config.REPORT_CJK_FONTS))
        return None
    try:
        face = _face(font)
        options = subset.Options()
        options.flavor = "woff"
        options.layout_features = ["*"]
        options.notdef_outline = True
        subsetter = subset.Subsetter(options)
        subsetter.populate(text="".join(sorted(set(text))))
        subsetter.subset(face)
        face.flavor = "woff"
        face.save(assets / FONT_FILE)
    except Exception as failure:  # a font it cannot read: the readers' own CJK fonts still serve
        log.warning("the CJK font %s could not be subset (%s): the report relies on the reader's CJK fonts",
                    font, type(failure).__name__)
        return None
    return FONT_FILE


def font_face_css(file_name: str | None) -> str:
    if file_name is None:
        return ""
    return (f'@font-face {{ font-family: "{FAMILY}"; src: url("{file_name}") format("woff"); '
            "font-weight: 100 900; font-display: block; }\n")
