"""Text leaving for Plex: NFC, no control characters, Plex's length limits, only real dates."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from plex.mapping import (
    MAX_TAGS,
    SUMMARY_MAX,
    TAG_MAX,
    TITLE_MAX,
    clean_line,
    clean_summary,
    clean_tags,
    parse_date,
)


def test_nfc_composes_decomposed_accents() -> None:
    decomposed = "Ame\u0301lie"
    assert clean_line(decomposed) == "Amélie"
    assert unicodedata.is_normalized("NFC", clean_line(decomposed))


def test_line_drops_controls_and_folds_breaks_to_spaces() -> None:
    assert clean_line("A\x00B\x07C") == "ABC"
    assert clean_line("Two\nlines\tand\r\ntabs") == "Two lines and tabs"
    assert clean_line("  padded   inside  ") == "padded inside"
    assert clean_line(None) == ""


def test_summary_keeps_newlines_and_tabs_only() -> None:
    text = "Line 1\r\nLine 2\rLine 3\n\tIndented\x00\x1b[31m red\x7f"
    assert clean_summary(text) == "Line 1\nLine 2\nLine 3\n\tIndented[31m red"


def test_lone_surrogates_and_xml_noncharacters_are_removed() -> None:
    # json.loads happily produces a lone surrogate from "\ud800"; it cannot be URL-encoded.
    assert clean_line("a\ud800b\ufffec\uffff") == "abc"
    assert clean_summary("x\udfffy") == "xy"


def test_length_limits() -> None:
    assert len(clean_line("t" * 1000)) == TITLE_MAX
    assert len(clean_summary("s" * 20_000)) == SUMMARY_MAX
    # A cut never leaves a bare combining mark at the end.
    title = "e" * (TITLE_MAX - 1) + "e\u0301\u0301"  # NFC keeps one mark uncomposed
    assert not unicodedata.combining(clean_line(title)[-1])


def test_tags_cleaned_deduplicated_and_capped() -> None:
    names = ["Drama", " Drama ", "", None, "Ame\u0301lie", "Amélie", "x" * 300]
    assert clean_tags(names) == ["Drama", "Amélie", "x" * TAG_MAX]
    many = [f"tag {i}" for i in range(MAX_TAGS + 50)]
    assert len(clean_tags(many)) == MAX_TAGS
    assert clean_tags(None) == []


def test_dates() -> None:
    assert parse_date("2021-02-03") == "2021-02-03"
    assert parse_date(" 2021-02-03 ") == "2021-02-03"
    for bad in ("2021-02-30", "0000-00-00", "2021-13-01", "21-02-03", "2021/02/03", "yesterday", "", None,
                "2021-02-03T10:00:00"):
        assert parse_date(bad) is None, bad


@given(st.text())
def test_cleaning_is_idempotent_and_always_safe(text: str) -> None:
    line = clean_line(text)
    assert clean_line(line) == line
    summary = clean_summary(text)
    assert clean_summary(summary) == summary
    for cleaned in (line, summary):
        cleaned.encode("utf-8")  # no surrogates left
        assert unicodedata.is_normalized("NFC", cleaned)
        assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in cleaned)
    assert "\n" not in line and "\t" not in line
    assert len(line) <= TITLE_MAX and len(summary) <= SUMMARY_MAX
