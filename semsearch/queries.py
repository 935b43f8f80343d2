"""Queries as users write them: ``FIELD=VALUE`` filters, query files, batch result records.

Shared by the CLI and the HTTP server so both read and write the same shapes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .errors import InvalidArgument
from .searching import Hit

# What ``where`` accepts: {"field": value}, [("field", value), ...] or ["field=value", ...].
Filters = Mapping[str, object] | Sequence[tuple[str, object]] | Sequence[str] | None


def parse_where(values: Iterable[str]) -> list[tuple[str, str]]:
    """``["category=economics", "year=2002"]`` -> ``[("category", "economics"), ("year", "2002")]``."""
    pairs = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidArgument(f"a filter must be FIELD=VALUE text, not {value!r}")
        field, sep, wanted = value.partition("=")
        if not sep or not field.strip():
            raise InvalidArgument(f"{value!r} is not FIELD=VALUE")
        pairs.append((field.strip(), wanted))
    return pairs


def normalise_filters(where: Filters) -> list[tuple[str, str]]:
    """Every accepted form of ``where`` as ``(field, value-as-text)`` pairs; booleans as true/false."""
    if where is None:
        return []
    if isinstance(where, str):
        raise InvalidArgument(
            f"where must be a mapping or a list of (field, value) pairs, not the string {where!r} "
            "(for FIELD=VALUE text, pass a list: [\"field=value\"])"
        )
    if isinstance(where, Mapping):
        pairs: list = list(where.items())
    elif isinstance(where, Sequence):
        pairs = [parse_where([item])[0] if isinstance(item, str) else item for item in where]
    else:
        raise InvalidArgument(f"where must be a mapping or a list of (field, value) pairs, not {where!r}")
    normalised = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise InvalidArgument(f"a filter must be a (field, value) pair, not {pair!r}")
        field, value = pair
        if value is None or isinstance(value, (dict, list, tuple, set)):
            raise InvalidArgument(f"filter {field!r}: the value must be text, a number or a boolean, not {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument(f"filter {field!r}: {value} is not a usable value")
        normalised.append((field, str(value).lower() if isinstance(value, bool) else str(value)))
    return normalised


def read_query_file(path: str | Path) -> list[tuple[str, str]]:
    """``(query id, text)`` from a text file (one query per line; the id is the line number)
    or JSONL (objects with ``text`` and ``id`` or ``_id``)."""
    queries = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                    text = record["text"]
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InvalidArgument(f"{path}:{number}: not a query record with a text field ({exc})") from None
                if not isinstance(text, str):
                    raise InvalidArgument(f"{path}:{number}: the text field is not text")
                queries.append((str(record.get("id", record.get("_id", number))), text))
            else:
                queries.append((str(number), line))
    return queries


def batch_record(query_id: str, query: str, hits: Sequence[Hit]) -> dict:
    """One line of batch output: ``{"query_id", "query", "hits": [{"id", "score"}, ...]}``."""
    return {"query_id": query_id, "query": query, "hits": [{"id": h.id, "score": h.score} for h in hits]}
