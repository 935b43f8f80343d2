"""Snippets cut from the original text around a query's terms.

FTS5's ``snippet()`` can only cut the text FTS5 was given, which for CJK is the analyzed
text (bigrams): the snippet must come from the original.  The analyzer says where its
tokens are in the original text and what each one matches (:meth:`Analyzer.spans`).
"""

from __future__ import annotations

from collections import Counter

from .analyzer import Analyzer
from .multilingual import CJK_CHAR

ELLIPSIS = " … "
# About 40 words, as the FTS5 snippet this replaces; a CJK character counts half a word.
WINDOW = 40.0
# Only so much of a very long document is searched for the best window.
SCAN_LIMIT = 1_000_000


def snippet(text: str, query: str, analyzer: Analyzer, window: float = WINDOW) -> str:
    """The stretch of ``text`` of about ``window`` words holding the most distinct query terms."""
    keys = analyzer.query_keys(query)
    starts: list[int] = []  # the pieces a window is measured in: start, end, weight
    ends: list[int] = []
    weights: list[float] = []
    hits: list[list[str]] = []  # the query keys that start in each piece
    for span in analyzer.spans(text[:SCAN_LIMIT]):
        if not ends or span.start >= ends[-1]:  # a CJK bigram shares its piece with its first character
            starts.append(span.start)
            ends.append(span.end)
            weights.append(0.5 if CJK_CHAR.match(text, span.start) else 1.0)
            hits.append([])
        if span.key in keys:
            hits[-1].append(span.key)
    if not starts:
        return _cut(text, 0, min(len(text), 200))
    count = len(starts)
    best, best_score = 0, (0, 0)
    left, weight, distinct, total = 0, 0.0, 0, 0
    inside: Counter = Counter()
    for right in range(count):
        for key in hits[right]:
            inside[key] += 1
            distinct += inside[key] == 1
            total += 1
        weight += weights[right]
        while weight > window and left < right:
            for key in hits[left]:
                inside[key] -= 1
                distinct -= inside[key] == 0
                total -= 1
            weight -= weights[left]
            left += 1
        if hits[right] and (distinct, total) > best_score:
            best, best_score = left, (distinct, total)
    if best_score != (0, 0):  # open a little before the first match, as FTS5 does
        first = next(i for i in range(best, count) if hits[i])
        best = max(0, first - 3) if first - best > 3 else best
    end, weight = best, 0.0
    while end < count and weight + weights[end] <= window:
        weight += weights[end]
        end += 1
    while best > 0 and weight + weights[best - 1] <= window:  # room left at the end: open earlier
        best -= 1
        weight += weights[best]
    start_char = 0 if best == 0 else starts[best]
    end_char = ends[end - 1] if end < count else len(text)
    return _cut(text, start_char, end_char)


def _cut(text: str, start: int, end: int) -> str:
    piece = text[start:end].strip()
    return (ELLIPSIS.lstrip() if start > 0 else "") + piece + (ELLIPSIS.rstrip() if end < len(text.rstrip()) else "")
