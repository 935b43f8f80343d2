"""Searching: dense (cosine over vectors), keyword (FTS5 BM25) and hybrid (RRF).

Documents are ranked, not chunks: a document's dense score is its best chunk's,
and that chunk's text is the snippet.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .storing import Filter, Store
from .text import ENGLISH, Analyzer, snippet
from .text.english import QUERY_STOP_WORDS as STOP_WORDS
from .text.english import QUERY_WORD as _WORD
from .vectors import VectorBackend

MODES = ("hybrid", "dense", "keyword")
RRF_K = 60
# How many documents each side contributes to a hybrid fusion.
FUSION_DEPTH = 100


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
    page: int | None = None  # 1-based page (slide, chapter) of the snippet; None for formats without pages
    # Why it ranked here (``search(..., explain=True)``): see :func:`explain_hits`.
    explain: dict | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        if data["explain"] is None:
            del data["explain"]  # the CLI's JSON stays as it was
        return data


def keyword_query(text: str, analyzer: Analyzer = ENGLISH) -> str | None:
    """An FTS5 MATCH expression for free text: its terms as the analyzer reads them, quoted, OR-ed.

    Quoting every term makes FTS5 syntax in user text (``"``, ``*``, ``:``, ``-``,
    parentheses, ``NEAR``, ``AND``) plain words, so no query can raise.
    """
    return analyzer.query(text)


@dataclass
class Ranked:
    """A document's place in one ranking, before its details are fetched."""

    doc_id: str
    score: float
    chunk_id: int | None = None  # the best chunk (dense); keyword hits get an FTS5 snippet


class ChunkMap:
    """Chunk id -> document id, held in memory so ranking needs no SQL per query."""

    def __init__(self, chunk_ids: np.ndarray, doc_ids: Sequence[str]) -> None:
        order = np.argsort(chunk_ids)
        self.chunk_ids = np.asarray(chunk_ids, dtype=np.int64)[order]
        self.doc_ids = [doc_ids[i] for i in order]

    def documents(self, chunk_ids: np.ndarray) -> list[str | None]:
        positions = np.searchsorted(self.chunk_ids, chunk_ids)
        found = []
        for chunk_id, position in zip(chunk_ids, positions):
            hit = position < len(self.chunk_ids) and self.chunk_ids[position] == chunk_id
            found.append(self.doc_ids[position] if hit else None)  # None: deleted since
        return found


def dense_rank(
    vectors: VectorBackend,
    chunk_map: ChunkMap,
    query_vectors: np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    metric: str = "cosine",
    exclude: Sequence[str] = (),
) -> list[list[Ranked]]:
    """Best ``k`` documents per query vector, each scored by its best chunk."""
    results: list[list[Ranked]] = []
    total = vectors.size if allowed is None else len(allowed)
    for query in np.atleast_2d(query_vectors):
        depth = min(total, max(4 * (k + len(exclude)), 32))
        while True:
            scores, ids = vectors.search(query[None, :], depth, allowed=allowed, metric=metric)
            valid = ids[0] >= 0
            chunk_ids, chunk_scores = ids[0][valid], scores[0][valid]
            best: dict[str, Ranked] = {}
            for doc_id, chunk_id, score in zip(chunk_map.documents(chunk_ids), chunk_ids, chunk_scores):
                if doc_id is None or doc_id in best or doc_id in exclude:
                    continue  # deleted since the FAISS file was written, or a weaker chunk
                best[doc_id] = Ranked(doc_id, float(score), int(chunk_id))
            # Several chunks of one document can fill the window: widen it until k documents.
            if len(best) >= k or depth >= total:
                break
            depth = min(total, depth * 4)
        results.append(list(best.values())[:k])  # FAISS returns chunks best first
    return results


def keyword_rank(store: Store, query: str, k: int, filters: Sequence[Filter] = ()) -> list[Ranked]:
    match = store.analyzer.query(query)
    if match is None:
        return []
    return [Ranked(doc_id, float(score)) for doc_id, score in store.keyword_search(match, k, filters)]


def fuse(
    rankings: Sequence[Sequence[Ranked]], k: int, rrf_k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[Ranked]:
    """Reciprocal-rank fusion: score = sum over rankings of weight / (rrf_k + rank).

    ``weights`` (default all 1) scale each ranking; a ranking of weight 0 is left out
    (:func:`semsearch.text.coverage.fusion_weights`: a query the model cannot read).
    The best chunk (and so the snippet) comes from the first ranking that has the
    document: dense, whose snippet is the best-matching chunk.
    """
    fused: dict[str, float] = {}
    first: dict[str, Ranked] = {}
    for ranking, weight in zip(rankings, weights if weights is not None else [1.0] * len(rankings)):
        if weight <= 0:
            continue
        for rank, item in enumerate(ranking, start=1):
            fused[item.doc_id] = fused.get(item.doc_id, 0.0) + weight / (rrf_k + rank)
            first.setdefault(item.doc_id, item)
    order = sorted(fused, key=lambda doc_id: -fused[doc_id])[:k]
    return [Ranked(d, fused[d], first[d].chunk_id) for d in order]


def to_hits(store: Store, ranked: Sequence[Ranked], query: str | None = None) -> list[Hit]:
    """Fetch titles, metadata and snippets for the final ranking only.

    A dense hit's snippet is its best chunk; a keyword-only hit's is cut from its
    original text around the terms of ``query`` (:func:`semsearch.text.snippet`).
    """
    documents = store.documents_summary([r.doc_id for r in ranked])
    chunks = store.chunk_texts([r.chunk_id for r in ranked if r.chunk_id is not None])
    texts = store.document_texts([r.doc_id for r in ranked if r.chunk_id is None]) if query else {}
    snippets = {doc_id: snippet(text, query, store.analyzer) for doc_id, text in texts.items()}
    words = {w for w in (m.group(0).lower() for m in _WORD.finditer(query or "")) if w not in STOP_WORDS}
    hits = []
    for item in ranked:
        document = documents.get(item.doc_id)
        if document is None:
            continue  # removed while we ranked
        pages = document["pages"]
        if item.chunk_id in chunks:
            position, text, start = chunks[item.chunk_id]
            page, (low, high) = chunk_page(pages, start, text, words)
            text = text[low:high]  # a chunk across a page break: its part on that page
        else:
            position, text = None, snippets.get(item.doc_id, "")
            page = snippet_page(store, item.doc_id, pages, text)
        hits.append(Hit(item.doc_id, item.score, text, document["title"], document["metadata"],
                        document["source"], position, page))
    return hits


def chunk_page(
    pages: Sequence[int] | None, start: int, text: str, words: set[str]
) -> tuple[int | None, tuple[int, int]]:
    """The page a chunk starts on, and the span of the chunk on it.

    For a chunk that runs across a page break and a query, the page holding the most
    of the query's words (ties: the earlier page), so the snippet is the part of the
    best chunk on the page reported.
    """
    whole = (0, len(text))
    if not pages:
        return None, whole
    first = bisect.bisect_right(pages, start)
    last = bisect.bisect_right(pages, start + max(len(text) - 1, 0))
    if first == last or not words:
        return first, whole
    best, span, best_count = first, whole, -1
    for page in range(first, last + 1):
        low = max(pages[page - 1] - start, 0)
        high = pages[page] - start if page < len(pages) else len(text)
        count = sum(1 for m in _WORD.finditer(text[low:high]) if m.group(0).lower() in words)
        if count > best_count:
            best, span, best_count = page, (low, high), count
    return best, span


def snippet_page(store: Store, doc_id: str, pages: Sequence[int] | None, snippet: str) -> int | None:
    """A keyword-only hit's page: where its FTS5 snippet sits in the document (found with
    SQLite's instr, the text never leaves the database), else None."""
    if not pages or not snippet:
        return None
    # The snippet is verbatim text between " … " marks: look up its longest piece.
    piece = max((p.strip(" …") for p in snippet.split(" … ")), key=len)
    offset = store.locate(doc_id, piece) if piece else None
    return None if offset is None else bisect.bisect_right(pages, offset)


def explain_hits(
    hits: Sequence[Hit], dense: Sequence[Ranked], keyword: Sequence[Ranked], metric: str, fused: bool
) -> None:
    """Attach each hit's place on both sides: dense rank and score, keyword rank and BM25.

    ``dense`` and ``keyword`` are the rankings the fusion saw (``FUSION_DEPTH`` deep), so a
    rank of None means "not in that side's top ``FUSION_DEPTH``"; ``fused`` is the RRF score
    when the hits were fused (hybrid mode), else None.
    """
    dense_at = {r.doc_id: (rank, r.score) for rank, r in enumerate(dense, start=1)}
    keyword_at = {r.doc_id: (rank, r.score) for rank, r in enumerate(keyword, start=1)}
    for hit in hits:
        d_rank, d_score = dense_at.get(hit.id, (None, None))
        k_rank, bm25 = keyword_at.get(hit.id, (None, None))
        hit.explain = {
            "dense": {"rank": d_rank, "score": d_score, "metric": metric},
            "keyword": {"rank": k_rank, "bm25": bm25},
            "fused": hit.score if fused else None,
            "rrf_k": RRF_K if fused else None,
        }


def _stem(word: str) -> str:
    # A light suffix strip, so "vaccines" marks "vaccine" as the porter-stemmed FTS5 index matches it.
    for suffix in ("ing", "edly", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlights(text: str, query: str) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets in ``text`` of the query's words (not stop words).

    Case-insensitive, whole words, light stemming; offsets index the Python string
    (code points), so ``text[start:end]`` is the word.
    """
    wanted = {_stem(w) for w in (m.group(0).lower() for m in _WORD.finditer(query)) if w not in STOP_WORDS}
    if not wanted:
        return []
    return [(m.start(), m.end()) for m in _WORD.finditer(text) if _stem(m.group(0).lower()) in wanted]
