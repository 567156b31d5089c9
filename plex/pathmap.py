"""Translating Stash file paths into the paths Plex sees.

Stash and Plex often run in different containers or machines, so the same file has two names
(``/data/x.mp4`` in Stash, ``/media/videos/x.mp4`` in Plex). Rules are prefix pairs; the longest
matching Stash prefix wins, and only whole path components match (``/data`` does not match
``/database``). Pure functions, standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

RULE_SEPARATOR = ";"
ARROW = "=>"


def _trim(prefix: str) -> str:
    prefix = prefix.strip()
    while len(prefix) > 1 and prefix[-1] in "/\\" and not prefix.endswith(":\\"):
        prefix = prefix[:-1]
    return prefix


def _is_windows_style(path: str) -> bool:
    return "\\" in path and "/" not in path or (len(path) >= 2 and path[1] == ":")


@dataclass(frozen=True)
class PathRule:
    stash_prefix: str
    plex_prefix: str

    def apply(self, path: str) -> str | None:
        prefix = self.stash_prefix
        windows = _is_windows_style(prefix)
        head, compare_path = (prefix.lower(), path.lower()) if windows else (prefix, path)
        if not compare_path.startswith(head):
            return None
        rest = path[len(prefix):]
        if rest and rest[0] not in "/\\" and prefix[-1] not in "/\\":
            return None  # /data must not match /database
        separator = "\\" if _is_windows_style(self.plex_prefix) and "/" not in self.plex_prefix else "/"
        rest = rest.replace("\\" if separator == "/" else "/", separator)
        if rest and self.plex_prefix.endswith(("/", "\\")):
            rest = rest.lstrip("/\\")
        elif rest and rest[0] not in "/\\":
            rest = separator + rest  # the Stash prefix was a root ("/", "D:\\"): keep a separator
        return self.plex_prefix + rest


@dataclass(frozen=True)
class PathMap:
    rules: tuple[PathRule, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> PathMap:
        """Parse ``STASH => PLEX; STASH2 => PLEX2``; raises ValueError naming the bad rule."""
        rules: list[PathRule] = []
        for number, raw in enumerate((text or "").split(RULE_SEPARATOR), start=1):
            rule = raw.strip()
            if not rule:
                continue
            if rule.count(ARROW) != 1:
                raise ValueError(
                    f"rule {number} ({rule!r}) must have exactly one '{ARROW}', "
                    f"as in '/data => /media/videos'"
                )
            stash_side, plex_side = (_trim(part) for part in rule.split(ARROW))
            if not stash_side or not plex_side:
                raise ValueError(
                    f"rule {number} ({rule!r}) needs a path on both sides of '{ARROW}'"
                )
            rules.append(PathRule(stash_side, plex_side))
        # Longest Stash prefix first, so the most specific rule wins.
        rules.sort(key=lambda r: len(r.stash_prefix), reverse=True)
        return cls(tuple(rules))

    def to_plex(self, stash_path: str) -> str:
        for rule in self.rules:
            mapped = rule.apply(stash_path)
            if mapped is not None:
                return mapped
        return stash_path
