"""Snippets cut from the original text around a query's terms.

FTS5's ``snippet()`` can only cut the text FTS5 was given, which for CJK is the analyzed
text (bigrams): the snippet must come from the original.  The analyzer says where its
tokens are in the original text and what each one matches (:meth:`Analyzer.spans`).
"""

from __future__ import annotations

from collections import Counter

from .analyzer import Analyzer

ELLIPSIS = " … "
# About 40 words, as the FTS5 snippet this replaces; a CJK character counts half a word.
WINDOW = 40.0
# Only so much of a very long document is searched for the best window.
SCAN_LIMIT = 1_000_000


def snippet(text: str, query: str, analyzer: Analyzer, window: float = WINDOW) -> str:
    """The stretch of ``text`` of about ``window`` words holding the most distinct query terms."""
    keys = analyzer.query_keys(query)
    units: list[tuple[int, int, float]] = []  # start, end, weight: the pieces a window is measured in
    hits: list[list[str]] = []  # the query keys that start in each unit
    for span in analyzer.spans(text[:SCAN_LIMIT]):
        if not units or span.start >= units[-1][1]:  # a CJK bigram shares its unit with its first character
            units.append((span.start, span.end, 0.5 if _is_cjk_char(text[span.start]) else 1.0))
            hits.append([])
        if span.key in keys:
            hits[-1].append(span.key)
    if not units:
        return _cut(text, 0, min(len(text), 200))
    best, best_score, left, inside, weight = 0, (0, 0), 0, Counter(), 0.0
    for right in range(len(units)):
        inside.update(hits[right])
        weight += units[right][2]
        while weight > window and left < right:
            inside.subtract(hits[left])
            weight -= units[left][2]
            left += 1
        score = (sum(1 for v in inside.values() if v > 0), sum(inside.values()))
        if score > best_score:
            best, best_score = left, score
    if best_score == (0, 0):
        best = 0
    else:  # open a little before the first match, as FTS5 does
        first = next(i for i in range(best, len(units)) if hits[i])
        best = max(0, first - 3) if first - best > 3 else best
    end, weight = best, 0.0
    while end < len(units) and weight + units[end][2] <= window:
        weight += units[end][2]
        end += 1
    while best > 0 and weight + units[best - 1][2] <= window:  # room left at the end: open earlier
        best -= 1
        weight += units[best][2]
    start_char = 0 if best == 0 else units[best][0]
    end_char = units[end - 1][1] if end < len(units) else len(text)
    return _cut(text, start_char, end_char)


def _is_cjk_char(char: str) -> bool:
    from .multilingual import CJK_CHAR

    return CJK_CHAR.match(char) is not None


def _cut(text: str, start: int, end: int) -> str:
    piece = text[start:end].strip()
    return (ELLIPSIS.lstrip() if start > 0 else "") + piece + (ELLIPSIS.rstrip() if end < len(text.rstrip()) else "")
