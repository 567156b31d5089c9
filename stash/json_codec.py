"""JSON in and out for the hook, with the standard library's own C parser and encoder.

``json.loads`` and ``json.dumps`` run CPython's ``_json`` accelerators; the Python modules around
them (``json.decoder``, ``json.encoder``) compile regular expressions at import, and importing
``re`` costs a hook about half a bare interpreter start. This module calls the same accelerators
with the settings ``json`` uses by default, so a document is parsed and written exactly as
``json`` would, character for character. Anything the fast path does not accept as a whole (a
BOM, another encoding, bad JSON, an interpreter without ``_json``) is handed to ``json`` itself,
so every error, and every document only ``json`` reads, behaves exactly as before.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # what JSON calls whitespace (RFC 8259), no more


class _DecoderSettings:
    """What the C scanner reads from a ``json.JSONDecoder``: json.loads's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None  # read by newer interpreters' scanners, ignored by older ones
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: dict = {}


def _c_codec() -> tuple[Any, Any, Any, Any]:
    """The scanner (built once: it only holds the settings), the encoder type, the two string
    encoders; all None where ``_json`` is missing or no longer takes what json passes it."""
    try:
        from _json import encode_basestring, encode_basestring_ascii, make_encoder, make_scanner

        scanner = make_scanner(_DecoderSettings())  # type: ignore[arg-type]  # json passes its decoder
        return scanner, make_encoder, encode_basestring, encode_basestring_ascii
    except (ImportError, AttributeError, TypeError):  # another interpreter, or a changed _json
        return None, None, None, None


_scan, _make_encoder, _encode_text, _encode_text_ascii = _c_codec()


def loads(document: bytes | bytearray | str) -> Any:
    """``json.loads(document)``."""
    if _scan is not None:
        try:
            text = document if isinstance(document, str) else bytes(document).decode("utf-8")
            start, size = 0, len(text)
            while start < size and text[start] in _WHITESPACE:
                start += 1
            value, end = _scan(text, start)
            while end < size and text[end] in _WHITESPACE:
                end += 1
            if end == size:
                return value
        except (ValueError, StopIteration, SystemError):
            # json.loads says what is wrong, in its own words. (Before Python 3.12 the scanner
            # raises its syntax error with json.decoder's class, which it only finds when json
            # has been imported; otherwise the call fails with SystemError.)
            pass
    import json

    return json.loads(document)


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: object, *, ensure_ascii: bool = True, default: Callable[[Any], object] | None = None) -> str:
    """``json.dumps(value, ensure_ascii=..., default=...)``, every other argument at its default."""
    if _make_encoder is not None:
        try:
            encode = _make_encoder(
                markers={}, default=default or _not_serializable,
                encoder=_encode_text_ascii if ensure_ascii else _encode_text, indent=None,
                key_separator=": ", item_separator=", ", sort_keys=False, skipkeys=False, allow_nan=True,
            )
            return "".join(encode(value, 0))
        except (TypeError, ValueError):
            # An interpreter whose _json takes other arguments, or a value json refuses: json
            # itself then writes it, or says what is wrong in its own words.
            pass
    import json

    return json.dumps(value, ensure_ascii=ensure_ascii, default=default)
