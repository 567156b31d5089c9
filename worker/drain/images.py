"""Images read from Stash for Plex (a scene's screenshot, a group's front image): fetched with the
plugin's session, and handed on only when they really are images.

Stash answers an image URL it cannot serve with an HTML page or an error; Plex would store that as
a poster. A URL marked ``default=true`` is Stash's placeholder for an object with no image: no
image at all, so Plex's own poster is left alone.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from stash import protocol
from stash.graphql import StashClient, StashError, StashUnavailable

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def looks_like_image(data: bytes) -> bool:
    """JPEG, PNG, GIF or WebP: anything else (an HTML error page) is not uploaded as a poster."""
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def is_placeholder(url: str) -> bool:
    """Stash's stand-in image for an object that has none (``default=true`` in the URL)."""
    return any(k == "default" and v.lower() == "true" for k, v in parse_qsl(urlsplit(url).query))


def fetch_image(stash: StashClient, url: str | None, what: str) -> bytes | None:
    """The image at a Stash URL, or None (no URL, a placeholder, an error, not an image).

    StashUnavailable is raised: Stash down stops the drain instead of losing the poster.
    """
    if not url or is_placeholder(url):
        return None
    try:
        data = stash.fetch_bytes(url)
    except StashUnavailable:
        raise
    except StashError as exc:
        protocol.debug(f"{what}: no image to use as poster ({exc})")
        return None
    if not data or not looks_like_image(data):
        protocol.debug(f"{what}: the image is not an image; poster left as is")
        return None
    return data
