"""Validation: the argument checks of the public API, and what makes a value storable as JSON.

Every public :class:`~semsearch.index.Index` method starts with one call here, so a
wrong type fails loudly with :class:`InvalidArgument` before anything is read or
written.  The case that motivated this: ``remove("api1")`` used to iterate the string
and delete the documents ``"a"``, ``"p"`` and ``"i"``.

Rules, the same everywhere:

* a whole number (``k``, ``n``, ``seed``, ...) is an ``int`` (numpy integers too) and
  never a ``bool``, a float or a string of digits;
* a real number (``min_score``, ``eps``, ``diversity``) is an ``int`` or ``float``,
  finite, not a ``bool``;
* ids are ``str`` (``int`` accepted and turned into its decimal string); a list of ids
  is any iterable of them but never a bare string or bytes;
* filters (``where``) are checked where they are parsed, :func:`semsearch.queries.normalise_filters`;
* metadata is JSON: NaN and +-Infinity (which JSON lacks) become ``null``; anything
  that is not a JSON value, or nests deeper than :data:`MAX_JSON_DEPTH`, is refused.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .errors import InvalidArgument

# Deeper metadata is refused: JSON encoders and SQLite's json functions recurse on it.
MAX_JSON_DEPTH = 64


def _type(value: object) -> str:
    return type(value).__name__


def check_int(value: object, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (``int`` or numpy integer, not ``bool``) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be a whole number, not {value!r} ({_type(value)})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}, not {value}")
    return value


def check_k(k: object, name: str = "k") -> int:
    """A result count: a whole number of at least 1."""
    return check_int(k, name, minimum=1)


def check_real(value: object, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite real number (``int`` or ``float``, not ``bool``) within the bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(f"{name} must be a number, not {value!r} ({_type(value)})")
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite number, not {value}")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}, not {value}")
    return value


def check_text(value: object, name: str, *, allow_empty: bool = True) -> str:
    """A ``str`` that SQLite and the tokenizer can take (no lone surrogates)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name} must be a string, not {value!r:.80} ({_type(value)})")
    if not allow_empty and not value.strip():
        raise InvalidArgument(f"{name} is empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{name} is not valid Unicode text (a lone surrogate at character {exc.start}: "
            f"bytes that were not UTF-8?)"
        ) from None
    return value


def check_id(value: object, name: str = "id") -> str:
    """A document id: a non-empty ``str`` (an ``int`` becomes its decimal string)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{name} must be a non-empty string, not {value!r:.80} ({_type(value)})")
    return check_text(value, name)


def check_ids(ids: object, name: str = "ids") -> list[str]:
    """A collection of document ids; a bare string is refused (it would be read letter by letter)."""
    if isinstance(ids, (str, bytes, bytearray)):
        raise InvalidArgument(f"{name} must be a list of ids, not a single string ({ids!r:.80}): use [{ids!r:.80}]")
    if isinstance(ids, Mapping) or not isinstance(ids, Iterable):
        raise InvalidArgument(f"{name} must be a list of ids, not {_type(ids)}")
    return [check_id(value, f"{name}[{i}]") for i, value in enumerate(ids)]


def check_sequence(values: object, name: str, length: int | None = None) -> Sequence:
    """A list-like of values (not a string, not a mapping), of ``length`` items if given."""
    if isinstance(values, (str, bytes, bytearray, Mapping)) or not isinstance(values, Sequence):
        raise InvalidArgument(f"{name} must be a list, not {_type(values)}")
    if length is not None and len(values) != length:
        raise InvalidArgument(f"{len(values)} {name} for {length} texts")
    return values


def check_optional(value: object, check, *args, **kwargs):
    """``check(value, ...)`` unless ``value`` is None."""
    return None if value is None else check(value, *args, **kwargs)


def check_int_or_auto(value: object, name: str, minimum: int | None = None) -> int | str | None:
    """``None``, ``"auto"`` or a whole number (clustering's ``k``)."""
    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return value
    return check_int(value, name, minimum=minimum)


def check_real_or_auto(value: object, name: str, minimum: float | None = None) -> float | str | None:
    """``None``, ``"auto"`` or a finite number (DBSCAN's ``eps``)."""
    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return value
    return check_real(value, name, minimum=minimum)


def check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True or False, not {value!r:.80}")
    return value


# -- JSON ---------------------------------------------------------------------
def clean_json(value: Any, name: str = "value", _depth: int = 0) -> Any:
    """A copy of ``value`` that strict JSON can hold: NaN and +-Infinity become ``None``.

    Mappings (string keys), lists, tuples, strings, numbers, booleans and None pass;
    numpy scalars become Python numbers.  Anything else, or nesting deeper than
    :data:`MAX_JSON_DEPTH`, raises :class:`InvalidArgument`.
    """
    if _depth > MAX_JSON_DEPTH:
        raise InvalidArgument(f"{name} nests deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, name)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidArgument(f"{name} has a key that is not a string ({key!r:.40})")
            out[check_text(key, name)] = clean_json(item, name, _depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [clean_json(item, name, _depth + 1) for item in value]
    raise InvalidArgument(f"{name} holds a {_type(value)}, which is not a JSON value")


def check_metadata(metadata: object, name: str = "metadata") -> dict:
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"{name} must be a mapping (a dict), not {_type(metadata)}")
    return clean_json(metadata, name)


def check_document(doc):
    """A :class:`~semsearch.reading.Document` fit to store: the same document, or a cleaned copy.

    Raises :class:`InvalidArgument` with the reason when it cannot be stored (the
    ingest loop turns that into a skip, so one bad record never ends a run).
    """
    if not all(hasattr(doc, name) for name in ("id", "text", "title", "metadata", "source")):
        raise InvalidArgument(f"not a Document: {type(doc).__name__} {doc!r:.60}")
    doc_id = check_id(doc.id, "the id")
    text = check_text(doc.text, "the text")
    title = None if doc.title is None else check_text(doc.title, "the title")
    metadata = check_metadata(doc.metadata)
    source = None if doc.source is None else check_text(str(doc.source), "the source")
    if (doc_id, text, title, metadata, source) == (doc.id, doc.text, doc.title, doc.metadata, doc.source):
        return doc
    return replace(doc, id=doc_id, text=text, title=title, metadata=metadata, source=source)
