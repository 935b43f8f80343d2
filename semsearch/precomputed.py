"""Vectors embedded elsewhere: stored as given (one chunk per text), searched by vector.

Users who embed on a GPU box or in a data pipeline hand :meth:`Index.add` the rows and
:meth:`Index.search_vectors` the queries; both must have the index's dimension and are
normalised to unit length here, as the index's own vectors are.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from .chunking import Chunk
from .ingest import Planned, Prepared
from .settings import IndexSettings
from .storing import Analysis, analyze
from .text import Analyzer, get_analyzer

log = logging.getLogger("semsearch")

# Chunks per transaction when the vectors are given: with nothing to embed, a larger batch
# costs an interrupted run no model time, and the writer's keyword statistics (one upsert
# per distinct term of a transaction) cost about a third of what they do at 256 chunks
# (bench/writer.py).  Every transaction is still atomic.
COMMIT_CHUNKS = 4096

# With SEMSEARCH_ANALYSIS_PROCESSES=N (default 0: off) and from this many texts, their
# analysis for keyword search (storing.analyze: pure Python, ~0.2 ms of CPU per
# 1,000-character text, about what the writer's SQLite work costs) runs in N worker
# processes, one batch ahead of the writer.  Forked, so the workers import nothing; Linux
# only (fork is unsafe on macOS, missing on Windows).
PARALLEL_AT = 8192


def unit_rows(vectors, dimension: int) -> np.ndarray:
    """``vectors`` as float32 unit rows of ``dimension``; ValueError for the wrong shape, NaN or zero rows."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dimension:
        raise ValueError(f"vectors of shape {tuple(np.shape(vectors))}: this index's vectors have {dimension} "
                         "dimensions (one row per text)")
    if not np.isfinite(array).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"row {int(np.flatnonzero(norms[:, 0] == 0)[0])} of the vectors is all zeros")
    return np.ascontiguousarray(array / norms, dtype=np.float32)


class GivenVectors:
    """An executor (:class:`semsearch.ingest.Executor`) that chunks nothing and embeds nothing:
    each document is one chunk, its whole text, with the row given for its id."""

    def __init__(self, ids: Sequence[str], vectors, dimension: int) -> None:
        rows = unit_rows(vectors, dimension)
        if len(rows) != len(ids):
            raise ValueError(f"{len(rows)} vectors for {len(ids)} texts")
        # The last row of an id wins, as the last document of an id does.
        self.rows = {doc_id: i for i, doc_id in enumerate(ids)}
        self.vectors = rows
        self.embedding_seconds = 0.0

    def prepare(self, batches: Iterable[list[Planned]], settings: IndexSettings) -> Iterator[list[Prepared]]:
        merged = self._merged(batches)
        workers = _analysis_workers(len(self.rows))
        if not workers:
            yield from (self._prepared(batch) for batch in merged)
            return
        analyzer = get_analyzer()  # what Store.open gives an index that can be written
        try:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        except (OSError, ValueError) as exc:
            log.info("analyzing in this process (no worker processes: %s)", exc)
            yield from (self._prepared(batch) for batch in merged)
            return
        try:
            ahead: tuple[list[Planned], list[Future]] | None = None
            for batch in merged:  # the next batch is analyzed while the writer commits this one
                step = -(-len(batch) // (workers * 4))
                futures = [pool.submit(_analyze_part, analyzer.name, [(p.doc.title, p.doc.text)
                                                                      for p in batch[i : i + step]])
                           for i in range(0, len(batch), step)]
                if ahead is not None:
                    yield self._prepared(*ahead, analyzer)
                ahead = (batch, futures)
            if ahead is not None:
                yield self._prepared(*ahead, analyzer)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _merged(self, batches: Iterable[list[Planned]]) -> Iterator[list[Planned]]:
        """The planned batches merged into ones of at least COMMIT_CHUNKS."""
        pending: list[Planned] = []
        for batch in batches:
            pending.extend(batch)
            if len(pending) >= COMMIT_CHUNKS:
                yield pending
                pending = []
        if pending:
            yield pending

    def _prepared(self, batch: list[Planned], futures: Sequence[Future] = (),
                  analyzer: Analyzer | None = None) -> list[Prepared]:
        analyses: list[Analysis | None] = [None] * len(batch)
        if futures and analyzer is not None:
            try:
                made = [row for future in futures for row in future.result()]
                key = (analyzer.name, analyzer.version)
                analyses = [Analysis(key, title, text, lang) for title, text, lang in made]
            except Exception as exc:  # a worker died: the writer analyzes instead (same results)
                log.warning("analysis in worker processes failed (%s: %s); analyzing in the writer",
                            type(exc).__name__, exc)
        return [
            Prepared(planned, [Chunk(0, 0, len(planned.doc.text), planned.doc.text)],
                     self.vectors[self.rows[planned.doc.id]][None, :], analysis=analysis)
            for planned, analysis in zip(batch, analyses)
        ]


def _analysis_workers(texts: int) -> int:
    """How many worker processes analyze ``texts`` texts (0: none, the writer does)."""
    setting = os.environ.get("SEMSEARCH_ANALYSIS_PROCESSES", "")
    # Default: none.  Since keyword terms are counted when first needed (not by the writer),
    # what is left to analyze (full-text values, language: ~40 µs) costs about what sending a
    # text to a worker does: on the quiet 2-core machine 4,975-5,878 chunks/s with one worker
    # vs 4,987-5,985 without (bench/writer.py, three runs).  For text whose analysis is heavier
    # (CJK bigrams) and idle cores, cores - 1 is the setting to try.
    workers = int(setting) if setting.strip().isdigit() else 0
    if texts < PARALLEL_AT or workers < 1 or not sys.platform.startswith("linux"):
        return 0
    return workers


def _analyze_part(analyzer_name: str, pairs: list[tuple[str | None, str]]) -> list[tuple]:
    """In a worker process: ``(title, text, lang)`` of each document's analysis, as plain
    tuples (cheaper to send back than dataclasses)."""
    analyzer = get_analyzer(analyzer_name)
    out = []
    for title, text in pairs:
        found = analyze(analyzer, title, text)
        out.append((found.title, found.text, found.lang))
    return out
