"""path_map: how Stash's file paths are written in Plex's namespace.

Examples first (what the README promises, each rule of the syntax, the errors a user sees), then
properties over generated paths (hypothesis): unmapped paths stay as they are, the longest prefix
wins, only whole components match, separators convert both ways, parsing never crashes.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from plex.pathmap import PathMap, PathRule

# -- examples -----------------------------------------------------------------------------------


def test_the_readme_examples() -> None:
    docker = PathMap.parse("/data => /media/videos")
    assert docker.to_plex("/data/Studio/clip.mp4") == "/media/videos/Studio/clip.mp4"
    two = PathMap.parse("/data/clips => /mnt/clips; /data => /media/videos")
    assert two.to_plex("/data/clips/a.mp4") == "/mnt/clips/a.mp4"
    assert two.to_plex("/data/other/b.mp4") == "/media/videos/other/b.mp4"
    windows = PathMap.parse("/data => D:\\Videos")
    assert windows.to_plex("/data/Studio/clip.mp4") == "D:\\Videos\\Studio\\clip.mp4"


def test_empty_map_keeps_every_path() -> None:
    for text in ("", "   ", ";", " ; ; "):
        path_map = PathMap.parse(text)
        assert path_map.rules == ()
        assert path_map.to_plex("/data/x.mp4") == "/data/x.mp4"


def test_only_whole_folders_match() -> None:
    path_map = PathMap.parse("/data => /media")
    assert path_map.to_plex("/database/x.mp4") == "/database/x.mp4"
    assert path_map.to_plex("/data") == "/media"
    assert path_map.to_plex("/data/") == "/media/"


def test_rule_order_in_the_text_does_not_matter() -> None:
    a = PathMap.parse("/data => /one; /data/deep => /two")
    b = PathMap.parse("/data/deep => /two; /data => /one")
    assert a == b
    assert a.rules[0] == PathRule("/data/deep", "/two")


def test_windows_prefixes_compare_without_case_and_convert_separators() -> None:
    path_map = PathMap.parse("C:\\Media => /mnt/media")
    assert path_map.to_plex("c:\\media\\Studio\\x.mp4") == "/mnt/media/Studio/x.mp4"
    assert path_map.to_plex("C:\\Mediathek\\x.mp4") == "C:\\Mediathek\\x.mp4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/data -> /media", "rule 1 ('/data -> /media') must have exactly one '=>'"),
        ("/a => /b; /c => /d => /e", "rule 2 ('/c => /d => /e') must have exactly one '=>'"),
        ("/data =>", "rule 1 ('/data =>') needs a path on both sides of '=>'"),
        ("=> /media", "rule 1 ('=> /media') needs a path on both sides of '=>'"),
    ],
)
def test_a_malformed_rule_is_named_with_the_fix(text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        PathMap.parse(text)
    assert str(caught.value).startswith(message)


# -- properties -----------------------------------------------------------------

_SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\\;=>\x00"),
    min_size=1, max_size=8,
).filter(lambda s: s.strip() == s and s not in (".", ".."))
_POSIX_PATH = st.lists(_SEGMENT, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))


def _rules(pairs: list[tuple[str, str]]) -> str:
    return "; ".join(f"{stash} => {plex}" for stash, plex in pairs)


@settings(max_examples=300, deadline=None)
@given(rules=st.lists(st.tuples(_POSIX_PATH, _POSIX_PATH), max_size=4), path=_POSIX_PATH)
def test_pathmap_unmapped_paths_are_unchanged(rules, path) -> None:
    path_map = PathMap.parse(_rules(rules))
    covered = any(path == s or path.startswith(s.rstrip("/") + "/") for s, _ in rules)
    if not covered:
        assert path_map.to_plex(path) == path


@settings(max_examples=300, deadline=None)
@given(prefix=_POSIX_PATH, extra=st.lists(_SEGMENT, min_size=1, max_size=3), rest=_POSIX_PATH,
       short_target=_POSIX_PATH, long_target=_POSIX_PATH)
def test_pathmap_longest_prefix_wins(prefix, extra, rest, short_target, long_target) -> None:
    longer = prefix + "/" + "/".join(extra)
    assume(prefix + rest != longer and not (prefix + rest).startswith(longer + "/"))
    for order in ([(prefix, short_target), (longer, long_target)],
                  [(longer, long_target), (prefix, short_target)]):
        path_map = PathMap.parse(_rules(order))
        assert path_map.to_plex(longer + rest) == long_target + rest
        assert path_map.to_plex(prefix + rest) == short_target + rest


@settings(max_examples=300, deadline=None)
@given(prefix=_POSIX_PATH, tail=_SEGMENT, rest=_POSIX_PATH, target=_POSIX_PATH)
def test_pathmap_matches_whole_components_only(prefix, tail, rest, target) -> None:
    path_map = PathMap.parse(f"{prefix} => {target}")
    assert path_map.to_plex(prefix + tail + rest) == prefix + tail + rest  # /data vs /database
    assert path_map.to_plex(prefix + rest) == target + rest
    assert path_map.to_plex(prefix) == target
    # A trailing separator on either side of the rule changes nothing.
    assert PathMap.parse(f"{prefix}/ => {target}/").to_plex(prefix + rest) == target + rest


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_SEGMENT, min_size=1, max_size=5), drive=st.sampled_from("CDEZ"),
       root=st.lists(_SEGMENT, min_size=0, max_size=2))
def test_pathmap_separators_round_trip(parts, drive, root) -> None:
    """POSIX → Windows turns every / into \\; Windows → POSIX turns them back, case kept."""
    windows_root = f"{drive}:\\" + "\\".join(root) if root else f"{drive}:\\"
    to_windows = PathMap.parse(f"/data => {windows_root}")
    mapped = to_windows.to_plex("/data/" + "/".join(parts))
    assert "/" not in mapped
    assert mapped == windows_root.rstrip("\\") + "\\" + "\\".join(parts)
    back = PathMap.parse(f"{windows_root} => /data")
    assert back.to_plex(mapped) == "/data/" + "/".join(parts)
    # Windows prefixes compare case-insensitively (the drive letter and folders).
    swapped = "".join(c.swapcase() if c.isascii() else c for c in mapped[:len(windows_root)])
    assert back.to_plex(swapped + mapped[len(windows_root):]) == (
        "/data/" + "/".join(parts)
    )


@settings(max_examples=300, deadline=None)
@given(root=st.sampled_from(["/", "D:\\", "d:/"]), parts=st.lists(_SEGMENT, min_size=1, max_size=4),
       target=_POSIX_PATH)
def test_pathmap_root_prefix_keeps_a_separator(root, parts, target) -> None:
    """A rule for a whole drive or the filesystem root still joins with a separator."""
    separator = "/" if root == "/" or root.endswith("/") else "\\"
    path = root + separator.join(parts)
    mapped = PathMap.parse(f"{root} => {target}").to_plex(path)
    assert mapped == target + "/" + "/".join(parts)
    back = PathMap.parse(f"{target} => {root}").to_plex(target + "/" + "/".join(parts))
    assert back == {"/": "/", "D:\\": "D:\\", "d:/": "d:\\"}[root] + (
        "/" if root == "/" else "\\").join(parts)  # a drive letter means Windows separators


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_pathmap_parse_never_crashes_and_names_the_rule(text) -> None:
    try:
        path_map = PathMap.parse(text)
    except ValueError as exc:
        assert str(exc).startswith("rule ")
        return
    for rule in path_map.rules:
        assert isinstance(rule, PathRule) and rule.stash_prefix and rule.plex_prefix
    lengths = [len(r.stash_prefix) for r in path_map.rules]
    assert lengths == sorted(lengths, reverse=True)
