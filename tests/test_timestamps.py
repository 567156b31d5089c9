"""sync.timestamps.parse_instant: Stash's RFC3339 strings become comparable instants."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.timestamps import parse_instant

# 2026-01-11T07:07:53Z, computed independently of the code under test.
BASE = datetime(2026, 1, 11, 7, 7, 53, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-11T07:07:53Z",
        "2026-01-11T07:07:53z",
        "2026-01-11T07:07:53+00:00",
        "2026-01-11T18:07:53+11:00",
        "2026-01-11T02:07:53-05:00",
        "2026-01-10T21:37:53-09:30",
        "  2026-01-11T18:07:53+11:00\n",
    ],
)
def test_offsets_resolve_to_the_same_utc_instant(text: str) -> None:
    assert parse_instant(text) == BASE


def test_same_instant_in_two_zones_compares_equal_though_strings_differ() -> None:
    sydney = "2026-01-11T18:07:53+11:00"
    new_york = "2026-01-11T02:07:53-05:00"
    utc = "2026-01-11T07:07:53Z"
    assert sydney != new_york != utc
    assert parse_instant(sydney) == parse_instant(new_york) == parse_instant(utc)


def test_zone_changes_the_instant() -> None:
    # The same wall-clock time in two zones is two instants, 16 hours apart.
    east = parse_instant("2026-01-11T18:07:53+11:00")
    west = parse_instant("2026-01-11T18:07:53-05:00")
    assert east is not None and west is not None
    assert west - east == 16 * 3600


def test_one_second_apart_is_one_second_apart() -> None:
    earlier = parse_instant("2026-01-11T18:07:52+11:00")
    later = parse_instant("2026-01-11T07:07:53Z")
    assert earlier is not None and later is not None
    assert later - earlier == 1.0
    assert earlier < later


def test_nine_fractional_digits_as_go_writes_them() -> None:
    value = parse_instant("2026-01-11T07:07:53.123456789Z")
    assert value is not None
    assert value == pytest.approx(BASE + 0.123456, abs=1e-6)
    assert BASE < value < BASE + 1


@pytest.mark.parametrize(
    ("text", "fraction"),
    [
        ("2026-01-11T07:07:53.5Z", 0.5),
        ("2026-01-11T07:07:53.25+00:00", 0.25),
        ("2026-01-11T18:07:53.123+11:00", 0.123),
        ("2026-01-11T02:07:53.000001-05:00", 0.000001),
    ],
)
def test_short_fractions_with_offsets(text: str, fraction: float) -> None:
    assert parse_instant(text) == pytest.approx(BASE + fraction, abs=1e-7)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "not a date",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-11T25:00:00Z",
        "2026-01-11T07:07:53+25:00",
        "11/01/2026 07:07:53",
        12345,
        1768115273.0,
        ["2026-01-11T07:07:53Z"],
    ],
)
def test_invalid_values_give_none(value: object) -> None:
    assert parse_instant(value) is None  # type: ignore[arg-type]


def _reference_parse(value: str) -> float | None:
    """The rule as first written, with a regular expression: the hook's version avoids importing
    re, and must agree with it on every string."""
    import re

    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"\.(\d+)", lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


STAMP_PIECES = st.sampled_from(["2026", "-", "01", "11", "T", "07", ":", "53", ".", "5", "123456789", "Z", "z",
                                "+11:00", "-05:30", " ", "\u0663", "", "x", "..", "+00:00"])


def _stash_like(year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str,
                sign: str, off_hours: int, off_minutes: int, zulu: bool) -> str:
    """Stash's RFC3339 shape, with every field free to go out of range."""
    zone = "Z" if zulu else f"{sign}{off_hours:02d}:{off_minutes:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"


STASH_LIKE = st.builds(
    _stash_like, st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24),
    st.integers(0, 60), st.integers(0, 60), st.sampled_from(["", ".5", ".123456", ".123456789", ".0000001"]),
    st.sampled_from("+-"), st.integers(0, 24), st.integers(0, 60), st.booleans(),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(STAMP_PIECES, max_size=12).map("".join) | st.text(max_size=30) | STASH_LIKE
       | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
def test_agrees_with_the_regular_expression_rule(text: str) -> None:
    """To the last bit: the hook compares these with what the worker stored."""
    expected = _reference_parse(text) if text.strip() else None
    assert parse_instant(text) == expected


def test_the_hook_reads_stash_s_shape_without_importing_datetime() -> None:
    import subprocess
    import sys

    code = ("import sys; from sync.timestamps import parse_instant; "
            "assert parse_instant('2026-01-11T18:07:53.5+11:00') == 1768115273.5; "
            "print(sorted(m for m in sys.modules if m in ('datetime', '_datetime', 're')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert done.stdout.strip() == "[]"
