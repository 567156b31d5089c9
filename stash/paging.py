"""Reading a paged Stash listing (``findScenes``, ``findTags`` ...) to its end.

Stash pages with ``page``/``per_page`` and reports the total ``count``; the listing ends at a
short page or once ``page * per_page`` reaches the count. The hooks (a rename's scenes) and the
tasks (every scan) read listings the same way, so the rule lives here once. Standard library only:
the hook imports it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from stash.graphql import StashClient


def pages(
    stash: StashClient,
    document: str,
    variables: dict[str, Any],
    root: str,
    items: str,
    *,
    per_page: int,
    timeout: float | None = None,
) -> Iterator[tuple[list[dict[str, Any]], int, int]]:
    """Yield (rows, total count, page number) for each page of ``root``'s ``items``."""
    page = 1
    while True:
        data = stash.execute(document, {**variables, "page": page, "per_page": per_page}, timeout=timeout)
        result = data.get(root) or {}
        rows = list(result.get(items) or [])
        count = int(result.get("count") or 0)
        yield rows, count, page
        if len(rows) < per_page or page * per_page >= count:
            return
        page += 1
