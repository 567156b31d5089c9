"""Cleaning Stash text before it is sent to Plex.

Stash stores whatever a scraper or a user typed: decomposed accents, stray control characters
pasted from web pages, titles of several kilobytes. Plex answers an edit it cannot store with an
opaque 500 (or stores the text and later serves XML that clients refuse), so every value is made
safe here, once, before the writer compares it with Plex's value. Cleaning is deterministic, so a
value that round-trips through Plex compares equal on the next run and costs no write.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

TITLE_MAX = 255
SUMMARY_MAX = 10_000
TAG_MAX = 255
MAX_TAGS = 500

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# XML 1.0 cannot carry these code points at all; Plex would serve a document no client parses.
_NONCHARACTERS = {0xFFFE, 0xFFFF}


def _drop(ch: str, keep: str) -> bool:
    """True for characters that must not leave: controls (except ``keep``), surrogates, U+FFFE/F."""
    if ch in keep:
        return False
    category = unicodedata.category(ch)
    if category in ("Cc", "Cs"):
        return True
    return ord(ch) in _NONCHARACTERS


def _clip(text: str, limit: int) -> str:
    """Cut to ``limit`` characters without leaving a dangling combining mark or half a word gap."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    # A combining mark whose base was kept but whose siblings were cut is fine; a cut that
    # leaves only a mark at the end is not: drop trailing marks so the result stays NFC-stable.
    while cut and unicodedata.combining(cut[-1]):
        cut = cut[:-1]
    return cut.rstrip()


def clean_line(value: object, limit: int = TITLE_MAX) -> str:
    """One-line text (titles, studio, tag names): NFC, no control characters, no line breaks.

    Tabs and line breaks become spaces (a title pasted with a newline is still one title), runs
    of whitespace collapse, and the result is at most ``limit`` characters.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = "".join(" " if ch in "\t\n\r\x0b\x0c\x85\u2028\u2029" else ch for ch in text)
    text = "".join(ch for ch in text if not _drop(ch, ""))
    text = " ".join(text.split())
    return _clip(text, limit)


def clean_summary(value: object, limit: int = SUMMARY_MAX) -> str:
    """Multi-line text (the summary): NFC, controls removed except ``\\n`` and ``\\t``.

    Windows and old-Mac line ends become ``\\n``; trailing whitespace is trimmed so that Plex
    (which trims) and Stash compare equal.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if not _drop(ch, "\n\t"))
    return _clip(text.strip(), limit)


def clean_tags(values: object, *, limit: int = TAG_MAX, max_tags: int = MAX_TAGS) -> list[str]:
    """A list of names (genres, actors, collections): cleaned, empty ones and duplicates dropped.

    Order is kept (first occurrence wins) so the payload hash is stable; at most ``max_tags``.
    """
    result: list[str] = []
    seen: set[str] = set()
    for raw in values or ():
        name = clean_line(raw, limit)
        if not name or name in seen:
            continue
        seen.add(name)
        result.append(name)
        if len(result) >= max_tags:
            break
    return result


def parse_date(value: object) -> str | None:
    """A valid calendar date as ``YYYY-MM-DD``, or None.

    Stash validates dates on input, but imports and scrapers have produced ``0000-00-00`` and
    ``2021-02-30``; Plex rejects those with a 500 that would fail the whole edit.
    """
    if value is None:
        return None
    text = str(value).strip()
    match = _DATE.match(text)
    if not match:
        return None
    year, month, day = (int(part) for part in match.groups())
    if year < 1:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None
