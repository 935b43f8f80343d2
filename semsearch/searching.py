"""Searching: dense (cosine over vectors), keyword (FTS5 BM25) and hybrid (RRF).

Documents are ranked, not chunks: a document's dense score is its best chunk's,
and that chunk's text is the snippet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .indexing import VectorIndex
from .storing import Filter, Store

MODES = ("hybrid", "dense", "keyword")
RRF_K = 60
# How many documents each side contributes to a hybrid fusion.
FUSION_DEPTH = 100

# A short English stop list: FTS5 has none, and OR-ing "the" into a query only adds noise.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves""".split()
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Hit:
    """One ranked document."""

    id: str
    score: float
    text: str
    title: str | None = None
    metadata: dict = field(default_factory=dict)
    source: str | None = None
    chunk: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def keyword_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text: its words, quoted, OR-ed.

    Quoting every word makes FTS5 syntax in user text (``"``, ``*``, ``:``, ``-``,
    parentheses, ``NEAR``, ``AND``) plain words, so no query can raise.
    """
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOP_WORDS]
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


def dense_search(
    store: Store,
    vectors: VectorIndex,
    query_vectors: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    metric: str = "cosine",
    exclude: Sequence[str] = (),
) -> list[list[Hit]]:
    """Best ``k`` documents per query vector by their best chunk."""
    results: list[list[Hit]] = []
    total = vectors.size if allowed is None else len(allowed)
    for query in np.atleast_2d(query_vectors):
        depth = min(total, max(4 * (k + len(exclude)), 32))
        while True:
            scores, ids = vectors.search(query[None, :], depth, allowed=allowed, metric=metric)
            pairs = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
            rows = store.chunk_rows([i for _, i in pairs])
            best: dict[str, Hit] = {}
            for score, chunk_id in pairs:
                row = rows.get(chunk_id)
                if row is None or row["id"] in best or row["id"] in exclude:
                    continue  # deleted since the FAISS file was written, or a weaker chunk
                best[row["id"]] = Hit(row["id"], score, row["text"], row["title"], row["metadata"],
                                      row["source"], row["chunk"])
            # Several chunks of one document can fill the window: widen it until k documents.
            if len(best) >= k or depth >= total:
                break
            depth = min(total, depth * 4)
        results.append(sorted(best.values(), key=lambda h: -h.score)[:k])
    return results


def keyword_search(store: Store, query: str, k: int, filters: Sequence[Filter] = ()) -> list[Hit]:
    match = keyword_query(query)
    if match is None:
        return []
    rows = store.keyword_search(match, k, filters)
    records = store.documents_rows([r[0] for r in rows])
    hits = []
    for doc_id, score, snippet in rows:
        record = records.get(doc_id)
        if record is not None:
            hits.append(Hit(doc_id, float(score), snippet, record["title"], record["metadata"], record["source"]))
    return hits


def fuse(rankings: Sequence[Sequence[Hit]], k: int, rrf_k: int = RRF_K) -> list[Hit]:
    """Reciprocal-rank fusion: score = sum over rankings of 1 / (rrf_k + rank).

    The snippet comes from the first ranking that has the document (dense, whose
    snippet is the best-matching chunk).
    """
    fused: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            fused[hit.id] = fused.get(hit.id, 0.0) + 1.0 / (rrf_k + rank)
            first.setdefault(hit.id, hit)
    order = sorted(fused, key=lambda doc_id: -fused[doc_id])[:k]
    return [Hit(**{**first[doc_id].to_dict(), "score": fused[doc_id]}) for doc_id in order]
