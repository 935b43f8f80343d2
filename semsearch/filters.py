"""The shapes a search request shares between the CLI and the HTTP API.

``--where FIELD=VALUE`` / ``where=FIELD=VALUE`` filters and the query file of a batch
search (``--queries FILE``, one query per line or JSON lines with ``id`` and ``text``)
are parsed here once, so both front ends accept exactly the same input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .errors import InvalidArgument


def parse_where(values: Iterable[str]) -> list[tuple[str, str]]:
    """``["lang=en", "year=2020"]`` -> ``[("lang", "en"), ("year", "2020")]``.

    Only the first ``=`` separates: a value may contain more.
    """
    pairs = []
    for value in values:
        field, sep, wanted = str(value).partition("=")
        if not sep or not field.strip():
            raise InvalidArgument(f"{value!r} is not field=value (a metadata field, '=', the value it must equal)")
        pairs.append((field.strip(), wanted))
    return pairs


def parse_query_lines(lines: Iterable[str], origin: str = "queries") -> list[tuple[str, str]]:
    """``(query id, text)`` from lines: plain text (id = line number) or JSON with ``id``/``_id`` and ``text``."""
    queries = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
                queries.append((str(record.get("id", record.get("_id", number))), str(record["text"])))
            except (json.JSONDecodeError, KeyError, AttributeError) as exc:
                raise InvalidArgument(f"{origin}:{number}: not a query record with a text field ({exc})") from None
        else:
            queries.append((str(number), line))
    return queries


def load_queries(path: str | Path) -> list[tuple[str, str]]:
    """The queries of a batch file (see :func:`parse_query_lines`)."""
    with open(path, encoding="utf-8") as handle:
        return parse_query_lines(handle, origin=str(path))
