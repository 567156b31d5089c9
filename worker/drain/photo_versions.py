"""Which version of a performer's image Plex is given: a digest of the image itself.

Stash's ``image_path`` is ``/performer/<id>/image?t=<the performer's updated_at>``: it changes
with every edit of the performer (a rename, the favourite heart, new aliases), while the image
rarely does. PlexSync knows a photo by its URL (the ledger keeps URL hashes; Plex reports the URL
it holds), so the URL it gives Plex carries a digest of the image's bytes in place of Stash's
``t=``: a new image is a new URL and reaches Plex once, and any other edit of the performer
leaves the URL, and so Plex, alone.

The digest costs one read of the image from Stash per edit of the performer: it is remembered
with the ``t=`` it was read at (``sync.performer_images``), and a performer whose ``t=`` has not
moved costs nothing. A dry run remembers nothing.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from plex.mapping import PerformerPhotos
from stash import protocol
from stash.graphql import StashError, StashUnavailable
from sync.performer_images import PerformerImages
from worker.context import TaskContext

if TYPE_CHECKING:
    from validation.config import PlexSyncConfig

_IMAGE_PATH = re.compile(r".*/performer/(\d+)/image")
DIGEST_CHARS = 16  # of a SHA-256: plenty to tell one image of a performer from the next


def photo_settings(ctx: TaskContext, config: PlexSyncConfig) -> PerformerPhotos | None:
    """The performer-photo settings with this task's image versions (None: photos are off)."""
    photos = config.performer_photo_settings
    return None if photos is None else photos._replace(version=PhotoVersions(ctx, remember=not ctx.dry_run))


class PhotoVersions:
    """Stash ``image_path`` → the image's digest, or None when Stash does not serve the image."""

    def __init__(self, ctx: TaskContext, *, remember: bool) -> None:
        self.ctx = ctx
        self.remember = remember
        self.known: dict[int, tuple[str, str | None]] = {}  # performer → (t=, digest) this run

    def __call__(self, image_path: str) -> str | None:
        parts = urlsplit(image_path)
        stamp = dict(parse_qsl(parts.query)).get("t", "")
        match = _IMAGE_PATH.fullmatch(parts.path)
        performer = int(match.group(1)) if match else None
        if performer is None:
            return self._read(image_path)  # not Stash's usual shape: read it, remember nothing
        known = self.known.get(performer)
        if known is None:
            known = PerformerImages(self.ctx.conn).get(performer)
            if known is not None:
                self.known[performer] = known
        if known is not None and known[0] == stamp:
            return known[1]
        digest = self._read(image_path)
        self.known[performer] = (stamp, digest)  # a failed read is not retried within this run
        if digest is not None and self.remember:
            PerformerImages(self.ctx.conn).remember(performer, stamp, digest)
        return digest

    def _read(self, image_path: str) -> str | None:
        try:
            data = self.ctx.stash.fetch_bytes(image_path)
        except StashUnavailable:
            raise
        except StashError as exc:
            protocol.warning(f"the performer image {urlsplit(image_path).path} could not be read from "
                             f"Stash ({exc}); the Plex actor's photo is left as it is")
            return None
        return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS] if data else None
