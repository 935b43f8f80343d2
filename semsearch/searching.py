"""Searching: dense (cosine over vectors), keyword (FTS5 BM25) and hybrid (RRF).

Documents are ranked, not chunks: a document's dense score is its best chunk's,
and that chunk's text is the snippet.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from .storing import Filter, Store
from .text import ENGLISH, Analyzer, snippet
from .text.english import QUERY_STOP_WORDS as STOP_WORDS
from .text.english import QUERY_WORD as _WORD
from .vectors import VectorBackend

MODES = ("hybrid", "dense", "keyword")
# Hybrid fusion: "convex" (the default), an equally weighted sum of each side's min-max
# normalised scores (Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid
# Retrieval"), or "rrf", reciprocal-rank fusion with RRF_K.  On SciFact dev claims convex
# beat RRF by 0.026 nDCG@10 (bench/fusion_sweep.py; README "Tuning the search defaults").
FUSION = "convex"
FUSION_METHODS = ("convex", "rrf")
RRF_K = 60
# How many documents each side contributes to a hybrid fusion (1,000 measured: +0.001).
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
    rankings: Sequence[Sequence[Ranked]], k: int, rrf_k: int = RRF_K, weights: Sequence[float] | None = None,
    scales: Sequence[Mapping[str, float] | None] | None = None,
) -> list[Ranked]:
    """Reciprocal-rank fusion: score = sum over rankings of weight / (rrf_k + rank).

    ``weights`` (default all 1) scale each ranking; a ranking of weight 0 is left out
    (:func:`semsearch.text.coverage.fusion_weights`: a query the model cannot read).
    ``scales`` (per ranking, optional) scale a document's term there by a factor (default 1),
    as in :func:`fuse_convex`.
    The best chunk (and so the snippet) comes from the first ranking that has the
    document: dense, whose snippet is the best-matching chunk.
    """
    weights = [1.0] * len(rankings) if weights is None else [float(w) for w in weights]
    fused: dict[str, float] = {}
    first: dict[str, Ranked] = {}
    for i, (weight, ranking) in enumerate(zip(weights, rankings)):
        if weight <= 0:
            continue
        scale = (scales[i] if scales is not None else None) or {}
        for rank, item in enumerate(ranking, start=1):
            term = weight * scale.get(item.doc_id, 1.0) / (rrf_k + rank)
            fused[item.doc_id] = fused.get(item.doc_id, 0.0) + term
            first.setdefault(item.doc_id, item)
    order = sorted(fused, key=lambda doc_id: -fused[doc_id])[:k]
    return [Ranked(d, fused[d], first[d].chunk_id) for d in order]


def fuse_convex(
    rankings: Sequence[Sequence[Ranked]], k: int, weights: Sequence[float] | None = None,
    floors: Sequence[float] | None = None, scales: Sequence[Mapping[str, float] | None] | None = None,
) -> list[Ranked]:
    """Convex combination of normalised scores (Bruch et al. 2023).

    Each ranking's scores are mapped to ``(score - floor) / (top - floor)``: ``floor``
    is the ranking's own lowest score (min-max, the default) or a given one per
    ranking (e.g. a scoring function's theoretical minimum, their "TM2C2"), ``top``
    its best score.  A document missing from a ranking gets that ranking's lowest
    normalised score (it ranked below all of them).  ``scales`` (per ranking, optional)
    multiply a document's normalised score by a factor in [0, 1] (default 1): how far that
    ranking can be trusted about that document.  The fused score is the weighted
    sum, weights (default equal) scaled to sum to 1, so it lies in [0, 1].  The best
    chunk (and so the snippet) comes from the first ranking that has the document.
    """
    weights = [1.0] * len(rankings) if weights is None else [float(w) for w in weights]
    total = sum(weights) or 1.0
    normed: list[tuple[float, dict[str, float], float]] = []
    first: dict[str, Ranked] = {}
    for i, (weight, ranking) in enumerate(zip(weights, rankings)):
        if not ranking or weight <= 0:
            continue  # a ranking of weight 0 is left out, as in fuse()
        top = max(r.score for r in ranking)
        floor = min(r.score for r in ranking) if floors is None else float(floors[i])
        if top > floor:
            scores = {r.doc_id: (r.score - floor) / (top - floor) for r in ranking}
            missing = min(scores.values())
        else:  # one hit, or all tied: all at the top, anything missing below
            scores, missing = {r.doc_id: 1.0 for r in ranking}, 0.0
        scale = scales[i] if scales is not None else None
        if scale:
            scores = {d: score * scale.get(d, 1.0) for d, score in scores.items()}
        normed.append((weight / total, scores, missing))
        for item in ranking:
            first.setdefault(item.doc_id, item)
    fused = {d: sum(w * scores.get(d, missing) for w, scores, missing in normed) for d in first}
    order = sorted(fused, key=lambda doc_id: -fused[doc_id])[:k]
    return [Ranked(d, fused[d], first[d].chunk_id) for d in order]


def fuse_hybrid(
    dense: Sequence[Ranked], keyword: Sequence[Ranked], k: int, weights: Sequence[float] | None = None,
    readable: Mapping[str, float] | None = None,
) -> list[Ranked]:
    """Hybrid mode's fusion of the dense and keyword rankings, by :data:`FUSION`.

    ``weights`` (dense, keyword) down-weight a side known to be weak (default equal):
    a query the model cannot read.  ``readable`` (document id -> factor in [0, 1], default 1;
    :func:`semsearch.text.coverage.document_weights`) does it per document on the dense
    side: a document the model cannot read (factor 0) is not in the dense ranking at all,
    so it neither scores there nor sets its normalisation; a partly readable one counts
    that much.  On CSL (Chinese abstracts, 65% unknown tokens to the bundled English model)
    this makes hybrid search rank as keyword search does, where the dense side's noise put it below.
    """
    scale = None
    if readable:
        dense = [r for r in dense if readable.get(r.doc_id, 1.0) > 0]
        scale = {d: f for d, f in readable.items() if f < 1.0}
    scales = [scale, None] if scale else None
    if FUSION == "rrf":
        return fuse([dense, keyword], k, weights=weights, scales=scales)
    return fuse_convex([dense, keyword], k, weights=weights, scales=scales)


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
    hits: Sequence[Hit], dense: Sequence[Ranked], keyword: Sequence[Ranked], metric: str, fused: bool,
    readable: Mapping[str, float] | None = None,
) -> None:
    """Attach each hit's place on both sides: dense rank and score, keyword rank and BM25.

    ``dense`` and ``keyword`` are the rankings the fusion saw (``FUSION_DEPTH`` deep), so a
    rank of None means "not in that side's top ``FUSION_DEPTH``"; ``fused`` is the fused score
    when the hits were fused (hybrid mode), else None, with ``fusion`` saying how, and for
    ``convex`` each side's ``normalised`` score (the fused score is their weighted mean).
    ``readable`` is what :func:`fuse_hybrid` was given: each hit's dense ``readable`` factor (1
    where absent; a document at 0 was left out of the dense side and counts as missing there),
    and the normalised dense score includes it.
    """
    readable = readable or {}
    dense_at = {r.doc_id: (rank, r.score) for rank, r in enumerate(dense, start=1)}
    keyword_at = {r.doc_id: (rank, r.score) for rank, r in enumerate(keyword, start=1)}
    convex = fused and FUSION == "convex"

    def normaliser(ranking: Sequence[Ranked]):
        # The same min-max map fuse_convex applies (a missing document gets the side's lowest).
        if not ranking:
            return lambda score: None
        top, low = max(r.score for r in ranking), min(r.score for r in ranking)
        if top > low:
            return lambda score: (score - low) / (top - low) if score is not None else 0.0
        return lambda score: 1.0 if score is not None else 0.0

    d_norm, k_norm = normaliser([r for r in dense if readable.get(r.doc_id, 1.0) > 0]), normaliser(keyword)
    for hit in hits:
        d_rank, d_score = dense_at.get(hit.id, (None, None))
        k_rank, bm25 = keyword_at.get(hit.id, (None, None))
        factor = readable.get(hit.id, 1.0)
        d_normalised = None
        if convex:  # a document left out of the dense side counts as missing there: 0
            d_normalised = d_norm(d_score) * factor if factor > 0 else d_norm(None)
        hit.explain = {
            "dense": {"rank": d_rank, "score": d_score, "metric": metric, "normalised": d_normalised,
                      "readable": factor if fused else None},
            "keyword": {"rank": k_rank, "bm25": bm25, "normalised": k_norm(bm25) if convex else None},
            "fused": hit.score if fused else None,
            "fusion": FUSION if fused else None,
            "rrf_k": RRF_K if fused and FUSION == "rrf" else None,
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
