"""sync.timestamps.parse_instant: Stash's RFC3339 strings become comparable instants."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

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
