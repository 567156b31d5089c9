"""stash/json_codec.py reads and writes JSON exactly as the json module does.

The hook parses Stash's stdin and writes its result with the C accelerators json itself runs,
without importing json (and so re). Whatever it is given, the value, the output text, or the
error (type and message) must be json's. Property tests compare the two on generated documents,
generated values, and arbitrary bytes; the named cases are the inputs Stash or a broken caller
could plausibly send.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stash import json_codec

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
KEYS = st.text() | st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
                      max_leaves=30)


def same(a: object, b: object) -> bool:
    """Equality that counts NaN as NaN (json reads "NaN" to a float that equals nothing)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def outcome(function, argument) -> tuple[str, object]:
    try:
        return "value", function(argument)
    except Exception as exc:  # noqa: BLE001 - the very point: the same exception, whatever it is
        return type(exc).__name__, str(exc)


def assert_reads_like_json(document: bytes | str) -> None:
    ours, theirs = outcome(json_codec.loads, document), outcome(json.loads, document)
    assert ours[0] == theirs[0]
    assert same(ours[1], theirs[1]) if ours[0] == "value" else ours[1] == theirs[1]


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_dumps_writes_what_json_dumps_writes(value: object, ensure_ascii: bool) -> None:
    assert json_codec.dumps(value, ensure_ascii=ensure_ascii) == json.dumps(value, ensure_ascii=ensure_ascii)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.sampled_from(["", " ", "\n\t \r"]), st.sampled_from(["utf-8", "str"]))
def test_loads_reads_what_json_reads(value: object, padding: str, encoding: str) -> None:
    text = padding + json.dumps(value, ensure_ascii=False) + padding
    assert_reads_like_json(text if encoding == "str" else text.encode("utf-8", "surrogatepass"))


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_give_json_s_value_or_json_s_error(document: bytes) -> None:
    assert_reads_like_json(document)


@pytest.mark.parametrize("document", [
    b"", b"   ", b"{", b"{}x", b"{} {}", b"[1,]", b'{"a": 1,}', b"nul", b"NaN", b"-Infinity", b"1e400",
    b'"\\ud800"', b'"\xed\xa0\x80"', b'"\x01"', b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", '{"é": "ü"}'.encode(),
    "\ufeff{}", '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-32-le"), b'{"a": 1, "a": 2}',
    b"[" * 100_000 + b"]" * 100_000, b"1" * 5000,
])
def test_named_inputs_behave_as_in_json(document: bytes | str) -> None:
    assert_reads_like_json(document)


def test_default_is_used_as_json_uses_it() -> None:
    value = {"when": {1, 2}, "what": b"x"}
    assert json_codec.dumps(value, ensure_ascii=False, default=str) == json.dumps(value, ensure_ascii=False, default=str)
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        json_codec.dumps({"when": {1}})
    circular: list[object] = []
    circular.append(circular)
    with pytest.raises(ValueError, match="Circular reference"):
        json_codec.dumps(circular)
    assert json_codec.dumps([1]) == "[1]"  # a failed call leaves nothing behind for the next one


def test_the_c_codec_is_in_use_here() -> None:
    """On CPython the fast path is taken (else these tests compare json with itself)."""
    assert json_codec._scan is not None and json_codec._make_encoder is not None


def test_bad_json_in_a_process_that_never_imported_json() -> None:
    """The hook's own situation: json is imported only to word the error."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\n"
            "from stash import json_codec\n"
            "assert 'json' not in sys.modules\n"
            "for bad in (b'{not json', b'[1, 2', b'{\"a\": \"\\x01\"}', b''):\n"
            "    try:\n"
            "        json_codec.loads(bad)\n"
            "    except ValueError as exc:\n"
            "        print(type(exc).__name__, exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    expected = []
    for bad in (b"{not json", b"[1, 2", b'{"a": "\x01"}', b""):
        try:
            json.loads(bad)
        except ValueError as exc:
            expected.append(f"{type(exc).__name__} {exc}")
    assert done.stdout.splitlines() == expected
