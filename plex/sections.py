"""Plex libraries (sections): which ones PlexSync writes to, where their files live, and which
library folder holds a given file.

Read from one raw ``GET /library/sections``: each ``<Directory>`` carries the section's key,
title, type, ``updatedAt`` and ``refreshing`` flag, and one ``<Location path=..>`` per folder the
library covers. The locations decide whether a file Plex has not got yet can be found by asking
Plex to scan its folder, or whether ``path_map`` is pointing somewhere Plex does not look.
"""

from __future__ import annotations

import ntpath
import posixpath
from collections import namedtuple
from collections.abc import Iterable
from typing import Any, Protocol
from xml.etree import ElementTree

from plex.errors import PlexSetupError

# Plex section types PlexSync can write, and the listing type that carries the files.
LISTING_TYPE = {"movie": 1, "show": 4}


class SectionInfo(namedtuple("SectionInfo", "key title type updated_at locations refreshing",
                             defaults=((), False))):
    """One library: ``locations`` are the folders it covers, as Plex sees them."""

    __slots__ = ()


class Queryable(Protocol):
    """Anything that sends a GET to Plex and returns the parsed XML (plexapi's ``PlexServer`` and
    ``plex.http.PlexHttp`` both do)."""

    def query(self, key: str, *args: Any, **kwargs: Any) -> Any: ...


def list_sections(plex: Queryable) -> list[SectionInfo]:
    """Every library Plex has (one request)."""
    from plex.client import call

    container = call("listing Plex libraries", plex.query, "/library/sections")
    return parse_sections(container)


def parse_sections(container: ElementTree.Element | None) -> list[SectionInfo]:
    found = []
    for directory in container if container is not None else ():
        if directory.tag != "Directory" or not directory.attrib.get("key", "").isdigit():
            continue
        attrib = directory.attrib
        locations = tuple(loc.attrib["path"] for loc in directory.iter("Location") if loc.attrib.get("path"))
        found.append(SectionInfo(int(attrib["key"]), attrib.get("title", ""), attrib.get("type", ""),
                                 attrib.get("updatedAt"), locations, attrib.get("refreshing") in ("1", "true")))
    return found


def select_sections(available: list[SectionInfo], libraries: list[str]) -> list[SectionInfo]:
    """The sections PlexSync writes to: the named ones, else every movie section.

    A named section that Plex does not have, or that is not a movie or TV section, is a setting
    error: it says which names Plex does have.
    """
    if not libraries:
        chosen = [s for s in available if s.type == "movie"]
        if not chosen:
            raise PlexSetupError(
                "Plex has no movie library; set plex_library to the library PlexSync should "
                f"write to (Plex has: {titles(available)})"
            )
        return chosen
    chosen = []
    for name in libraries:
        matches = [s for s in available if s.title.strip().lower() == name.strip().lower()]
        if not matches:
            raise PlexSetupError(
                f"plex_library names '{name}', which Plex does not have (Plex has: {titles(available)})"
            )
        for section in matches:
            if section.type not in LISTING_TYPE:
                raise PlexSetupError(
                    f"plex_library names '{name}', a {section.type} library; PlexSync writes "
                    "to movie and TV libraries only"
                )
            if section not in chosen:
                chosen.append(section)
    return chosen


def titles(sections: Iterable[SectionInfo]) -> str:
    return ", ".join(f"'{s.title}' ({s.type})" for s in sections) or "no libraries"


def describe_locations(sections: Iterable[SectionInfo]) -> str:
    """``'Movies': /media/videos, /mnt/more; 'Clips': ...`` for messages."""
    return "; ".join(f"'{s.title}': {', '.join(s.locations) or '(no folder)'}" for s in sections) or "none"


def _is_windows(path: str) -> bool:
    return (len(path) >= 2 and path[1] == ":" and path[0].isalpha()) or path.startswith("\\\\")


def _folded(path: str) -> str:
    """Comparison form: Windows paths case- and separator-folded, no trailing separator."""
    if _is_windows(path):
        return path.replace("/", "\\").lower().rstrip("\\")
    return path.rstrip("/") or "/"


def holding_location(plex_path: str, sections: Iterable[SectionInfo]) -> tuple[SectionInfo, str] | None:
    """The section and location whose folder holds ``plex_path`` (the longest location wins)."""
    target = _folded(plex_path)
    separator = "\\" if _is_windows(plex_path) else "/"
    best: tuple[SectionInfo, str] | None = None
    for section in sections:
        for location in section.locations:
            root = _folded(location)
            if target == root or target.startswith(root.rstrip(separator) + separator):
                if best is None or len(location) > len(best[1]):
                    best = (section, location)
    return best


def folder_of(plex_path: str) -> str:
    """The folder holding a file, as Plex writes paths (what a partial scan is asked for)."""
    return ntpath.dirname(plex_path) if _is_windows(plex_path) else posixpath.dirname(plex_path)
