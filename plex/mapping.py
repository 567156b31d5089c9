"""From a Stash scene to the values Plex should show for it: the one place that decides them.

Stash stores whatever a scraper or a user typed: decomposed accents, stray control characters
pasted from web pages, titles of several kilobytes. Plex answers an edit it cannot store with an
opaque 500 (or stores the text and later serves XML that clients refuse), so every value is made
safe here, once, before the writer compares it with Plex's value. Cleaning is deterministic, so a
value that round-trips through Plex compares equal on the next run and costs no write, and the
desired state's hash tells the worker whether anything Plex-relevant changed since the last write.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from plex.rules import NO_RULES, MappingRules

# Plex scalar field names, in the order of the plan's lines.
SCALARS = ("title", "summary", "originallyAvailableAt", "studio", "userRating")
# Plex tag-list edit prefixes → plexapi attribute holding the current tags.
TAGS = {"genre": "genres", "actor": "roles", "collection": "collections", "director": "directors",
        "label": "labels"}
PAYLOAD_VERSION = 2

# Performer photos on Plex actors: the address at which Plex reaches Stash (not the one the plugin
# uses: in Docker they differ), the API key Plex must send when Stash has a login, and ``version``:
# Stash's image_path -> what identifies the image itself (None: no photo now), put in the URL in
# place of Stash's ``t=``, which moves with every edit of the performer. Without it, ``t=`` stays.
PerformerPhotos = namedtuple("PerformerPhotos", "base_url api_key version", defaults=(None,))

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


def clean_tags(values: Iterable[object] | None, *, limit: int = TAG_MAX, max_tags: int = MAX_TAGS) -> list[str]:
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


# -- the desired state ------------------------------------------------------------


@dataclass(frozen=True)
class DesiredState:
    """What Plex should show for a scene. A field absent from ``fields`` is left untouched.

    Absent means: Stash has no title (Plex keeps its own, never blanked) or the date was invalid
    (dropped with a warning). Empty values ('' or None or an empty list) mean "clear it in Plex".
    """

    scene_id: int
    fields: dict[str, Any]
    files: tuple[str, ...]
    screenshot_url: str | None
    warnings: tuple[str, ...] = ()
    photos: dict[str, str] = field(default_factory=dict)  # actor name -> photo URL for Plex
    # skip_fields: fields PlexSync leaves to Plex (not in ``fields``; the ledger stops owning them)
    released: frozenset[str] = frozenset()

    def payload_hash(self, **context: Any) -> str:
        """A stable hash of everything that decides what is written (plus ``context``).

        ``context`` carries what else changes the outcome: settings (preserve_plex_edits, the
        mapped paths: a changed setting must not look like "already written") and the poster
        image's SHA-1. The screenshot URL is left out on purpose: Stash puts ``?t=<updated_at>``
        in it, so it changes with every edit, while the image itself rarely does.
        """
        document: dict[str, Any] = {
            "v": PAYLOAD_VERSION,
            "fields": self.fields,
            "photos": self.photos,
            "files": list(self.files),
            "context": context,
        }
        if self.released:  # only then: with no field skipped the hash is what it always was
            document["released"] = sorted(self.released)
        encoded = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def desired_from_scene(scene: dict[str, Any], photos: PerformerPhotos | None = None,
                       rules: MappingRules = NO_RULES) -> DesiredState:
    """Build the desired Plex state from a FIND_SCENE result (see stash.queries).

    With ``photos``, each performer that has an image in Stash gets it as the Plex actor's photo.
    ``rules`` are the user's choices: excluded tags, label tags, the organized label, studio
    collections and the fields PlexSync leaves alone. Labels appear only when the scene has some
    (PlexSync removes only labels it put there itself, which the ledger knows).
    """
    scene_id = int(scene["id"])
    warnings: list[str] = []
    fields: dict[str, Any] = {}

    title = clean_line(scene.get("title"), TITLE_MAX)
    if title:
        fields["title"] = title
    fields["summary"] = clean_summary(scene.get("details"), SUMMARY_MAX)

    raw_date = scene.get("date")
    if raw_date in (None, ""):
        fields["originallyAvailableAt"] = ""
    else:
        parsed = parse_date(raw_date)
        if parsed is None:
            warnings.append(f"scene {scene_id}: date {str(raw_date)[:40]!r} is not a valid "
                            "YYYY-MM-DD date; Plex's date is left as it is")
        else:
            fields["originallyAvailableAt"] = parsed

    studio = scene.get("studio") or {}
    fields["studio"] = clean_line(studio.get("name") if isinstance(studio, dict) else None)

    rating = scene.get("rating100")
    if rating is None:
        fields["userRating"] = None
    else:
        try:
            value = max(0.0, min(100.0, float(rating)))
            fields["userRating"] = round(value / 10.0, 1)
        except (TypeError, ValueError):
            warnings.append(f"scene {scene_id}: rating {rating!r} is not a number; not sent")

    fields["actor"] = _capped_tags(_names(scene.get("performers")), scene_id, "performers", warnings)
    genres, labels = rules.split_tags(scene.get("tags") or ())
    fields["genre"] = _capped_tags(genres, scene_id, "tags", warnings)
    if rules.organized_label and scene.get("organized") is True:
        labels.append(rules.organized_label)
    labels = _capped_tags(labels, scene_id, "labels", warnings)
    if labels:
        fields["label"] = labels
    groups = []
    for entry in scene.get("groups") or ():
        group = entry.get("group") if isinstance(entry, dict) else None
        if isinstance(group, dict):
            groups.append(group.get("name"))
    groups += rules.studio_collections(scene.get("studio"))
    fields["collection"] = _capped_tags(groups, scene_id, "groups", warnings)
    director = clean_line(scene.get("director"))
    fields["director"] = [director] if director else []
    for name in rules.skip:
        fields.pop(name, None)

    files = tuple(f["path"] for f in scene.get("files") or () if isinstance(f, dict) and f.get("path"))
    paths = scene.get("paths") or {}
    screenshot = paths.get("screenshot") if isinstance(paths, dict) else None
    actor_photos = _actor_photos(scene.get("performers"), fields["actor"], photos) \
        if photos and "actor" in fields else {}
    return DesiredState(scene_id, fields, files, screenshot or None, tuple(warnings), actor_photos,
                        released=rules.skip)


def photo_url(image_path: object, photos: PerformerPhotos) -> str | None:
    """The performer's Stash image as Plex must fetch it, or None when Stash has no image.

    Stash serves a placeholder (``default=true``) for a performer without an image: that is no
    photo, and Plex's current photo is left alone. The path is kept, re-based onto the address
    Plex reaches Stash at; ``t=`` (Stash ignores its value) becomes the image's version when
    ``photos.version`` knows it, so the URL changes when the image does and only then.
    """
    if not isinstance(image_path, str) or not image_path:
        return None
    parts = urlsplit(image_path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "default" and value.lower() == "true" for key, value in query):
        return None
    query = [(k, v) for k, v in query if k.lower() != "apikey"]
    if photos.version is not None:
        version = photos.version(image_path)
        if version is None:
            return None
        query = [("t", str(version))] + [(k, v) for k, v in query if k != "t"]
    if photos.api_key:
        query.append(("apikey", photos.api_key))
    rebased = photos.base_url.rstrip("/") + parts.path
    return rebased + (f"?{urlencode(query)}" if query else "")


def _actor_photos(performers: Any, actors: list[str], photos: PerformerPhotos) -> dict[str, str]:
    """Actor name (as cleaned for Plex) → photo URL, for the actors Plex gets."""
    wanted = set(actors)
    found: dict[str, str] = {}
    for entry in performers or ():
        if not isinstance(entry, dict):
            continue
        name = clean_line(entry.get("name"))
        url = photo_url(entry.get("image_path"), photos)
        if name in wanted and url and name not in found:
            found[name] = url
    return found


def _capped_tags(names: list[Any], scene_id: int, what: str, warnings: list[str]) -> list[str]:
    """The cleaned names, at most MAX_TAGS of them; a warning says when some were left out."""
    cleaned = clean_tags(names, max_tags=max(len(names), 1))
    if len(cleaned) > MAX_TAGS:
        warnings.append(f"scene {scene_id}: {len(cleaned)} {what}; Plex gets the first {MAX_TAGS}")
    return cleaned[:MAX_TAGS]


def _names(entries: Any) -> list[Any]:
    return [e.get("name") for e in entries or () if isinstance(e, dict)]
