"""Approximate vector search for large indexes: FAISS IVF over compressed codes, then an
exact refine of the best candidates from the stored float vectors.

Two kinds (``settings["index_type"]``):

- ``ivf``: an inverted file (``nlist`` k-means cells) over SQ8 codes, one byte per dimension
  (a quarter of float32); measured on real MiniLM vectors the codes cost at most 0.004 of
  recall@10.
- ``ivfpq``: the same inverted file over 4-bit product-quantiser codes scanned with SIMD
  ("fast-scan", 8 dimensions per byte-half: 24 bytes per 384-dim vector).  PQ alone caps
  recall@10 at 0.72-0.86 on real vectors, whatever nprobe; the exact refine of the best
  ``refine x k`` candidates restores it.

Only codes live in memory.  The refine reads the candidates' float vectors *by id* from
``fetch`` (the index passes a reader of its SQLite store), so floats never all sit in
RAM.  Without a ``fetch`` (a backend used on its own) the floats are kept in memory and
saved with the codes.

nprobe and the refine depth are **calibrated**, never assumed: at every build, held-out
stored vectors (a random sample, each searched with itself excluded) are ranked exactly
by a streaming scan of every stored vector, and the cheapest (nprobe, refine) whose
mean recall@10 reaches the target with a third of the misses (real queries miss 2-5x as
often as stored vectors: :data:`QUERY_MISS_FACTOR`) is kept, with the measured recall,
its 95% confidence interval, the number of queries, the index size and the date
(:class:`Calibration`).
Because the refine is exact, recall after refine is the share of the true top k found
among the candidates, so calibration needs no float reads.  :meth:`IVFVectors.maintenance`
says when the index has doubled since (re-calibrate) or quadrupled since training, or
lost half of what it was trained on to deletes (retrain).
"""

from __future__ import annotations

import json
import math
import os
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from ..integrity import fsync_path
from .querylog import MIN_LOGGED, QueryLog

DEFAULT_RECALL = 0.95
# Held-out stored vectors are easier queries than real ones (their neighbours are closer): on
# 9.2k real MiniLM chunk vectors (SciFact), SciFact's real queries missed 2-5x as many true
# neighbours as held-out stored vectors at the same settings (more at higher targets, and
# more with PQ codes).  With a factor of 2, real queries got 0.955 at a 0.95 target with SQ8
# codes but 0.939 with PQ; so the stored-vector queries must miss at most a third of what
# the target allows (0.983 for 0.95).  bench/scale.py measures both.
QUERY_MISS_FACTOR = 3.0
CALIBRATION_K = 10
CALIBRATION_QUERIES = 400
MAGIC = b"SEMSIVF1"
# Refine depths tried, as multiples of k: SQ8 codes rank almost exactly, PQ codes need more.
REFINE_FACTORS = {"ivf": (1, 2, 4), "ivfpq": (2, 4, 8, 16, 32)}
# Relative costs for choosing among (nprobe, refine) pairs that reach the target, in
# microseconds: scanning one code (SQ8: 384 bytes; fast-scan PQ: 24 bytes, SIMD), reading
# one float vector by id from SQLite for the refine, one centroid of the coarse quantiser.
SCAN_COST = {"ivf": 0.06, "ivfpq": 0.012}
FETCH_COST = 3.0
CENTROID_COST = 0.03
# Training sample: FAISS wants >= 39 points per cell; more than 64 buys little.
TRAIN_PER_LIST = 64
TRAIN_MAX = 200_000
KMEANS_ITERATIONS = 10
# Up to this many vectors, a search probes every cell and refines every vector: exact, and
# cheap at that size (codes trained on a few hundred vectors rank too coarsely to trust).
EXACT_UP_TO = 1024
# A filtered search over at most this many allowed vectors scores them all exactly.
EXACT_FILTER_MAX = 20_000

Fetch = Callable[[np.ndarray], np.ndarray]


def default_nlist(size: int) -> int:
    """4 sqrt(N) cells (on real vectors nprobe ~32 then reaches recall 0.95 over an 18x
    range of N), but at least 39 training points per cell."""
    return max(1, min(int(4 * math.sqrt(max(size, 1))), size // 39))


def pq_subquantizers(dimension: int) -> int:
    """8 dimensions per 4-bit sub-quantiser (384 -> 48 x 4 bits = 24 bytes); a divisor of ``dimension``."""
    for m in range(max(1, dimension // 8), 0, -1):
        if dimension % m == 0:
            return m
    return 1


@dataclass
class Calibration:
    """The measured recall@k of the approximate search at the chosen settings."""

    target: float
    k: int
    nprobe: int
    refine: int  # candidates refined exactly = refine * k
    recall: float
    low: float  # 95% confidence interval of the mean over queries (normal approximation)
    high: float
    queries: int
    size: int  # vectors in the index when measured
    date: str
    reached: bool
    required: float = 0.0  # what the held-out stored vectors had to reach (see QUERY_MISS_FACTOR)
    logged: int = 0  # > 0: measured on this many logged real queries instead (see .querylog)

    def to_dict(self) -> dict:
        return asdict(self)


def recall_interval(per_query: np.ndarray) -> tuple[float, float, float]:
    """Mean recall and its 95% confidence interval (normal approximation, clipped to [0, 1])."""
    n = len(per_query)
    mean = float(per_query.mean()) if n else 0.0
    half = 1.96 * float(per_query.std(ddof=1)) / math.sqrt(n) if n > 1 else 1.0
    return mean, max(0.0, mean - half), min(1.0, mean + half)


class _Reiterable:
    """Batches that can be read twice: a list as given, or a one-shot iterator materialised."""

    def __init__(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        if iter(batches) is batches:  # a generator: keep it (the backend holds the floats anyway)
            batches = list(batches)
        self.batches = batches

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for ids, vectors in self.batches:
            yield np.asarray(ids, dtype=np.int64), np.ascontiguousarray(vectors, dtype=np.float32)


class _MemoryFloats:
    """The float vectors by id, for a backend without a ``fetch``: appended blocks, looked up by
    binary search over the ids (sorted lazily)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.ids = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, dimension), np.float32)
        self._blocks: list[tuple[np.ndarray, np.ndarray]] = []
        self._removed: set[int] = set()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._blocks.append((ids.copy(), vectors.copy()))

    def remove(self, ids: np.ndarray) -> None:
        self._removed.update(int(i) for i in ids)

    def _consolidate(self) -> None:
        if not self._blocks and not self._removed:
            return
        ids = np.concatenate([self.ids, *(b[0] for b in self._blocks)])
        vectors = np.concatenate([self.vectors, *(b[1] for b in self._blocks)])
        if self._removed:
            keep = ~np.isin(ids, np.fromiter(self._removed, np.int64))
            ids, vectors = ids[keep], vectors[keep]
        order = np.argsort(ids, kind="stable")
        self.ids, self.vectors = ids[order], vectors[order]
        self._blocks, self._removed = [], set()

    def fetch(self, ids: np.ndarray) -> np.ndarray:
        self._consolidate()
        rows = np.searchsorted(self.ids, ids)
        rows = np.clip(rows, 0, max(len(self.ids) - 1, 0))
        if len(ids) and (len(self.ids) == 0 or not np.array_equal(self.ids[rows], ids)):
            raise KeyError("a vector id is not stored")
        return self.vectors[rows]

    def batches(self, size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self._consolidate()
        for start in range(0, len(self.ids), size):
            yield self.ids[start : start + size], self.vectors[start : start + size]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


class TopK:
    """Exact top ``k`` by inner product over a stream of ``(ids, vectors)`` batches, bounded memory.

    ``exclude[i]``: an id query ``i`` must not find (itself, for held-out stored vectors).
    """

    def __init__(self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None) -> None:
        self.queries, self.k, self.exclude = queries, k, exclude
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self.ids = np.full((len(queries), k), -1, np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids) or not len(self.queries):
            return
        scores = self.queries @ vectors.T
        if self.exclude is not None:
            scores[self.exclude[:, None] == ids[None, :]] = -np.inf
        self.merge(ids, scores)

    def merge(self, ids: np.ndarray, scores: np.ndarray) -> None:
        """Merge scores already computed (higher is better) for ``ids`` into the running top ``k``."""
        if not len(ids):
            return
        take = min(self.k, len(ids))
        part = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        merged_scores = np.concatenate([self.scores, np.take_along_axis(scores, part, 1)], axis=1)
        merged_ids = np.concatenate([self.ids, ids[part]], axis=1)
        order = np.argsort(-merged_scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(merged_scores, order, 1)
        self.ids = np.take_along_axis(merged_ids, order, 1)
        self.ids[~np.isfinite(self.scores)] = -1


def exact_top(queries: np.ndarray, batches: Iterable[tuple[np.ndarray, np.ndarray]], k: int,
              exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, ids)`` of the exact top ``k`` over every batch, best first, -1 past the last hit."""
    top = TopK(queries, k, exclude)
    for ids, vectors in batches:
        top.update(ids, vectors)
    return top.scores, top.ids


class IVFVectors:
    """IVF over SQ8 codes with an exact refine; see the module docstring."""

    kind = "ivf"

    def __init__(self, dimension: int, index: faiss.IndexIVF | None = None, *, state: dict | None = None,
                 fetch: Fetch | None = None) -> None:
        self.dimension = dimension
        self.index = index
        state = state or {}
        self.nprobe = int(state.get("nprobe", 1))
        self.refine = int(state.get("refine", REFINE_FACTORS[self.kind][0]))
        self.target = float(state.get("target", DEFAULT_RECALL))
        self.trained_size = int(state.get("trained_size", 0))
        self.removed_since_train = int(state.get("removed_since_train", 0))
        calibration = state.get("calibration")
        self.calibration = Calibration(**calibration) if calibration else None
        self._floats: _MemoryFloats | None = None
        self.build_seconds: dict[str, float] = {}  # sample, train, add (+ exact truth), calibrate: benches
        self.query_log: QueryLog | None = None  # past queries to calibrate on (the index attaches its log)
        self.fetch = fetch  # setter: without a reader, keep the floats in memory

    # -- where the floats come from --------------------------------------------------
    @property
    def fetch(self) -> Fetch | None:
        return self._fetch

    @fetch.setter
    def fetch(self, reader: Fetch | None) -> None:
        """Read floats by id from ``reader`` (dropping any held in memory), or keep them in memory."""
        self._fetch = reader
        if reader is not None:
            self._floats = None
        elif self._floats is None:
            self._floats = _MemoryFloats(self.dimension)

    def _read(self, ids: np.ndarray) -> np.ndarray:
        if self._fetch is not None:
            return np.ascontiguousarray(self._fetch(ids), dtype=np.float32).reshape(len(ids), self.dimension)
        return self._floats.fetch(ids)

    # -- building ------------------------------------------------------------------
    @classmethod
    def _new_index(cls, dimension: int, nlist: int) -> faiss.IndexIVF:
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.own_fields = True
        quantizer.this.disown()
        return index

    @classmethod
    def build(
        cls,
        dimension: int,
        batches: Iterable[tuple[np.ndarray, np.ndarray]],
        *,
        recall: float = DEFAULT_RECALL,
        nlist: int | None = None,
        fetch: Fetch | None = None,
        seed: int = 0,
        calibration_queries: int = CALIBRATION_QUERIES,
        size: int | None = None,
        query_log: QueryLog | None = None,
        **_: object,
    ) -> IVFVectors:
        """Train on a sample, add everything while ranking the held-out queries exactly, calibrate:
        two passes over ``batches`` (three without ``size``, the number of vectors); ``batches``
        must be iterable twice (a generator is materialised).  With at least
        :data:`~.querylog.MIN_LOGGED` queries in ``query_log``, calibrate on them instead."""
        if not 0.0 < recall <= 1.0:
            raise ValueError(f"recall target must be in (0, 1], not {recall}")
        source = _Reiterable(batches)
        clock = time.perf_counter()
        size, sample, queries = _sample(source, dimension, seed, nlist, calibration_queries, size=size)
        backend = cls(dimension, None, state={"target": recall}, fetch=fetch)
        backend.query_log = query_log
        queries, logged = backend._with_logged(queries)
        backend.trained_size = size
        if size == 0:
            return backend
        backend.index = cls._new_index(dimension, nlist or default_nlist(size))
        timings = backend.build_seconds = {"sample": time.perf_counter() - clock}
        clock = time.perf_counter()
        backend._train(sample, seed)
        timings["train"], clock = time.perf_counter() - clock, time.perf_counter()
        del sample
        truth = TopK(queries[1], backend._calibration_k(size), exclude=queries[0])
        for ids, vectors in source:
            backend._append(ids, vectors)
            truth.update(ids, vectors)  # the held-out queries' exact neighbours, in the same pass
        timings["add"], clock = time.perf_counter() - clock, time.perf_counter()
        backend._calibrate_with(queries, truth.ids, logged)
        timings["calibrate"] = time.perf_counter() - clock
        return backend

    def _train(self, sample: np.ndarray, seed: int) -> None:
        self._train_cells(sample, seed)
        self.index.train(np.ascontiguousarray(sample))  # the codes (the cells are trained: kept)

    def _train_cells(self, sample: np.ndarray, seed: int) -> None:
        """Spherical k-means for the cells, assigning through the quantizer (a flat scan: batched,
        it runs as matrix products; an HNSW graph over the centroids measured slower per vector
        at 12,649 cells), as FAISS's own IVF training does, but with the caller's threads."""
        nlist = self.index.nlist
        clustering = faiss.ClusteringParameters()
        clustering.niter = KMEANS_ITERATIONS if nlist > 1 else 1
        clustering.seed = seed
        clustering.max_points_per_centroid = TRAIN_PER_LIST
        clustering.spherical = True  # unit vectors, inner product: keep the centroids on the sphere
        self.index.cp = clustering
        quantizer = faiss.downcast_index(self.index.quantizer)
        quantizer.reset()
        faiss.Clustering(self.dimension, nlist, clustering).train(np.ascontiguousarray(sample), quantizer)
        quantizer.is_trained = True

    @staticmethod
    def _params(nprobe: int) -> faiss.SearchParametersIVF:
        """Search parameters probing ``nprobe`` cells."""
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
        return params

    def _append(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(vectors, ids)
        if self._floats is not None:
            self._floats.add(ids, vectors)

    # -- the protocol ------------------------------------------------------------------
    @property
    def size(self) -> int:
        if self.index is not None:
            return int(self.index.ntotal)
        return 0 if self._floats is None else int(sum(len(b[0]) for b in self._floats._blocks) + len(self._floats.ids))

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dimension)
        if self.index is None:  # built empty: train on what arrives first (maintenance retrains as it grows)
            self.index = self._new_index(self.dimension, default_nlist(len(ids)))
            self._train(vectors, 0)
            self.trained_size = len(ids)
            self.nprobe = self.index.nlist  # every cell until calibrated: exact but for the codes
        self._append(ids, vectors)

    def remove(self, ids: Iterable[int]) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids) and self.index is not None:
            removed = int(self.index.remove_ids(faiss.IDSelectorBatch(ids)))
            self.removed_since_train += removed
            if self._floats is not None:
                self._floats.remove(ids)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, metric: str = "cosine"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query: ``(scores, ids)``, -1 past the last hit; scores exact (refined).

        ``cosine`` scores are inner products of unit vectors; ``euclidean`` ranks the same
        on unit vectors and is reported as ``1 / (1 + distance)``.  ``manhattan`` does not
        rank the same: it is exact over the floats held in memory, and otherwise rescores
        a deep cosine candidate list (approximate; an index answers it with an exact scan).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        if metric not in ("cosine", "euclidean", "manhattan"):
            raise ValueError(f"unknown metric {metric!r}")
        n = self.size
        if n == 0 or k < 1:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = min(k, n)
        if metric == "manhattan":
            return self._manhattan(queries, k, allowed)
        if allowed is not None:
            allowed = np.unique(np.asarray(allowed, dtype=np.int64))
            if len(allowed) <= EXACT_FILTER_MAX:
                scores, ids = self._exact_subset(queries, k, allowed)
                return self._metric(scores, ids, metric)
        # The calibrated depth for the top 10 (a smaller one was never measured), and for a larger
        # k (ranking asks for 40 chunks to find 10 documents) twice k: ranks past 10 need less care.
        depth = min(n, max(self.refine * CALIBRATION_K, 2 * k))
        nprobe = min(self.index.nlist, self.nprobe)
        if n <= EXACT_UP_TO:
            depth, nprobe = n, self.index.nlist
        if allowed is not None:  # a wide filter: probe more cells, in proportion to what it keeps
            nprobe = min(self.index.nlist, math.ceil(self.nprobe * n / max(len(allowed), 1)))
        params = self._params(nprobe)
        if allowed is not None:
            selector = params.sel = faiss.IDSelectorBatch(allowed)  # noqa: F841 (kept alive while searching)
        _, candidates = self.index.search(queries, depth, params=params)
        scores, ids = self._refine(queries, candidates, k)
        return self._metric(scores, ids, metric)

    def _manhattan(self, queries: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._floats is not None:
            self._floats._consolidate()
            ids, floats = self._floats.ids, self._floats.vectors
        else:
            params = self._params(min(self.index.nlist, 4 * self.nprobe))
            _, found = self.index.search(queries, min(self.size, 10 * self.refine * max(k, CALIBRATION_K)),
                                         params=params)
            ids = np.unique(found[found >= 0])
            floats = self._read(ids)
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, floats = ids[keep], floats[keep]
        out_scores = np.zeros((len(queries), min(k, len(ids))), np.float32)
        out_ids = np.full((len(queries), min(k, len(ids))), -1, np.int64)
        for row, query in enumerate(queries):
            distances = np.abs(floats - query).sum(1)
            order = np.lexsort((ids, distances))[:k]
            out_scores[row], out_ids[row] = 1.0 / (1.0 + distances[order]), ids[order]
        return out_scores, out_ids

    @staticmethod
    def _metric(scores: np.ndarray, ids: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
        if metric == "euclidean":  # |q - x| = sqrt(2 - 2 q.x) for unit vectors
            scores = np.where(ids >= 0, 1.0 / (1.0 + np.sqrt(np.maximum(2.0 - 2.0 * scores, 0.0))), scores)
        return scores.astype(np.float32), ids

    def _refine(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores of every row's candidates (their floats read once, by id); the best ``k``."""
        unique = np.unique(candidates[candidates >= 0])
        out_scores = np.full((len(queries), k), -np.inf, np.float32)
        out_ids = np.full((len(queries), k), -1, np.int64)
        if not len(unique):
            return out_scores, out_ids
        floats = self._read(unique)
        for row, query in enumerate(queries):
            found = candidates[row][candidates[row] >= 0]
            exact = floats[np.searchsorted(unique, found)].astype(np.float64) @ query.astype(np.float64)
            order = np.lexsort((found, -exact))[:k]  # best first; ties by id (the earlier chunk)
            out_scores[row, : len(order)] = exact[order]
            out_ids[row, : len(order)] = found[order]
        return out_scores, out_ids

    def _exact_subset(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A narrow filter: score every allowed vector exactly (approximate cells could miss them)."""
        if self._floats is not None:  # a filter may name ids this index does not hold
            self._floats._consolidate()
            allowed = allowed[np.isin(allowed, self._floats.ids)]
        return self._refine(queries, np.broadcast_to(allowed, (len(queries), len(allowed))), k)

    # -- calibration and upkeep -------------------------------------------------------
    def calibrate(self, batches: Iterable[tuple[np.ndarray, np.ndarray]], *, seed: int = 0,
                  queries: int = CALIBRATION_QUERIES) -> Calibration | None:
        """Measure again on a fresh sample of held-out stored vectors (``batches``: every stored vector)."""
        source = _Reiterable(batches)
        _, _, sample = _sample(source, self.dimension, seed, None, queries, train=False, size=self.size)
        sample, logged = self._with_logged(sample)
        _, truth = exact_top(sample[1], source, self._calibration_k(self.size), exclude=sample[0])
        return self._calibrate_with(sample, truth, logged)

    def _with_logged(self, sample: tuple[np.ndarray, np.ndarray]) -> tuple[tuple[np.ndarray, np.ndarray], int]:
        """The held-out sample followed by the logged queries when there are enough (id -1: none excluded)."""
        logged = self.query_log.read() if self.query_log is not None else np.zeros((0, self.dimension), np.float32)
        if len(logged) < MIN_LOGGED:
            return sample, 0
        ids = np.concatenate([sample[0], np.full(len(logged), -1, np.int64)])
        return (ids, np.concatenate([sample[1], _unit(logged)])), len(logged)

    @staticmethod
    def _calibration_k(size: int) -> int:
        return min(CALIBRATION_K, max(1, size - 1))

    def _calibrate_with(self, queries: tuple[np.ndarray, np.ndarray], truth: np.ndarray,
                        logged: int = 0) -> Calibration | None:
        """Choose (nprobe, refine) from the exact neighbours ``truth`` of ``queries``: held-out stored
        vectors, whose recall must leave a third of the misses the target allows; or, when the last
        ``logged`` rows are logged real queries, theirs alone, which must reach the target itself."""
        query_ids, query_vectors = queries
        if self.index is None or len(query_ids) == 0:
            return None
        if logged:
            query_ids, query_vectors, truth = query_ids[-logged:], query_vectors[-logged:], truth[-logged:]
        k = truth.shape[1]
        factors = REFINE_FACTORS[self.kind]
        depth = min(self.size, max(factors) * k + 1)  # +1: the query itself comes back
        nlist = self.index.nlist
        grid = sorted({min(nlist, p) for p in [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256,
                                                384, 512, 768, 1024, 1536, 2048, 4096, nlist]})
        required = self.target if logged else 1.0 - (1.0 - self.target) / QUERY_MISS_FACTOR
        best: tuple[float, int, int, np.ndarray] | None = None
        fallback: tuple[float, int, int, np.ndarray] | None = None
        for nprobe in grid:
            params = self._params(nprobe)
            _, found = self.index.search(query_vectors, depth, params=params)
            found = np.where(found == query_ids[:, None], -1, found)  # held out: itself does not count
            for factor in factors:
                per_query = _recall(truth, found, factor * k + (0 if logged else 1), k)
                mean = float(per_query.mean())
                cost = self._cost(nprobe, factor * k)
                if fallback is None or mean > fallback[0] + 1e-12:
                    fallback = (mean, nprobe, factor, per_query)
                if mean >= required and (best is None or cost < self._cost(best[1], best[2] * k)):
                    best = (mean, nprobe, factor, per_query)
            if best is not None and best[1] < nprobe:
                break  # larger nprobe only costs more
        chosen = best or fallback
        mean, nprobe, factor, per_query = chosen
        self.nprobe, self.refine = nprobe, factor
        mean, low, high = recall_interval(per_query)
        self.calibration = Calibration(
            target=self.target, k=k, nprobe=nprobe, refine=factor, recall=round(mean, 4), low=round(low, 4),
            high=round(high, 4), queries=len(query_ids), size=self.size,
            date=datetime.now(timezone.utc).isoformat(timespec="seconds"), reached=best is not None,
            required=round(required, 4), logged=logged,
        )
        return self.calibration

    def _cost(self, nprobe: int, refined: int) -> float:
        per_list = self.size / max(self.index.nlist, 1)
        return (self.index.nlist * CENTROID_COST + nprobe * per_list * SCAN_COST[self.kind]
                + refined * FETCH_COST)

    def maintenance(self) -> str | None:
        """``"retrain"`` when the index has quadrupled since training or lost half of it to deletes,
        ``"recalibrate"`` when it has doubled since the last calibration or enough real queries have
        been logged since it was calibrated on held-out stored vectors, else None."""
        if self.size == 0 and self.index is None:
            return None
        if self.size >= 4 * max(self.trained_size, 1) or self.removed_since_train * 2 > max(self.trained_size, 1):
            return "retrain"
        calibrated = self.calibration.size if self.calibration else 0
        if self.size >= 2 * max(calibrated, 1) or self.calibration is None:
            return "recalibrate"
        if (self.query_log is not None and self.calibration.logged < MIN_LOGGED
                and self.query_log.count() >= MIN_LOGGED and self.size > EXACT_UP_TO):
            return "recalibrate"
        return None

    def maintain(self, batches: Iterable[tuple[np.ndarray, np.ndarray]] | None = None) -> str | None:
        """Do what :meth:`maintenance` asks, reading every stored vector from ``batches``
        (default: the floats held in memory); returns what was done."""
        needed = self.maintenance()
        if needed is None:
            return None
        if batches is None:
            if self._floats is None:
                raise ValueError("this backend reads its floats by id: pass every stored vector as batches")
            batches = list(self._floats.batches())
        if needed == "retrain":
            rebuilt = type(self).build(self.dimension, batches, recall=self.target, fetch=self._fetch,
                                       query_log=self.query_log)
            self.__dict__.update(rebuilt.__dict__)
        else:
            self.calibrate(batches)
        return needed

    def describe(self) -> dict:
        """What ``semsearch info`` shows: kind, cells, nprobe, refine depth, code size, the calibration."""
        index = self.index
        return {
            "index_type": self.kind,
            "nlist": int(index.nlist) if index is not None else 0,
            "nprobe": self.nprobe,
            "refine": self.refine,
            "code_bytes": int(index.code_size) if index is not None else 0,
            "trained_size": self.trained_size,
            "removed_since_train": self.removed_since_train,
            "calibration": self.calibration.to_dict() if self.calibration else None,
        }

    # -- files ---------------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "kind": self.kind, "dimension": self.dimension, "nprobe": self.nprobe, "refine": self.refine,
            "target": self.target, "trained_size": self.trained_size,
            "removed_since_train": self.removed_since_train,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "floats": self._floats is not None,
        }

    def save(self, path: Path) -> None:
        """Write atomically: header (JSON state), the FAISS index, and the floats if held in memory."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            header = json.dumps(self._state()).encode()
            handle.write(MAGIC + struct.pack("<Q", len(header)) + header)
            handle.write(struct.pack("<B", self.index is not None))
            if self.index is not None:
                writer = faiss.PyCallbackIOWriter(handle.write)
                faiss.write_index(self.index, writer)
                del writer
            if self._floats is not None:
                self._floats._consolidate()
                np.save(handle, self._floats.ids)
                np.save(handle, self._floats.vectors)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_path(path.parent)  # the rename itself survives a crash

    @classmethod
    def load(cls, path: Path, dimension: int, fetch: Fetch | None = None) -> IVFVectors:
        """Read a file written by :meth:`save`; ValueError when it is not a usable index of this kind."""
        try:
            with open(path, "rb") as handle:
                if handle.read(len(MAGIC)) != MAGIC:
                    raise ValueError("not an IVF vector file")
                (length,) = struct.unpack("<Q", handle.read(8))
                state = json.loads(handle.read(length))
                if state.get("kind") != cls.kind or state.get("dimension") != dimension:
                    raise ValueError(f"holds a {state.get('kind')} index of dimension {state.get('dimension')}, "
                                     f"expected {cls.kind} of {dimension}")
                index = None
                if handle.read(1) == b"\x01":
                    reader = faiss.PyCallbackIOReader(handle.read)
                    index = faiss.read_index(reader)
                    del reader
                backend = cls(dimension, index, state=state, fetch=fetch)
                if state.get("floats") and fetch is None:
                    backend._floats.ids = np.load(handle)
                    backend._floats.vectors = np.load(handle)
        except (OSError, RuntimeError, struct.error, json.JSONDecodeError, UnicodeDecodeError,
                TypeError, EOFError) as exc:
            raise ValueError(f"unreadable IVF vector file: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        if state.get("floats") is False and fetch is None:
            # Saved codes-only: the floats live in the database; reads fail until a reader is attached.
            backend._floats = None
        return backend


class IVFPQVectors(IVFVectors):
    """IVF over 4-bit fast-scan PQ codes (24 bytes per 384-dim vector), refined exactly."""

    kind = "ivfpq"

    @classmethod
    def _new_index(cls, dimension: int, nlist: int) -> faiss.IndexIVF:
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFPQFastScan(
            quantizer, dimension, nlist, pq_subquantizers(dimension), 4, faiss.METRIC_INNER_PRODUCT
        )
        index.own_fields = True
        quantizer.this.disown()
        return index

    def _train(self, sample: np.ndarray, seed: int) -> None:
        if len(sample) < 16:  # 4-bit PQ needs at least 16 training points per sub-quantiser
            sample = np.concatenate([sample] * math.ceil(16 / max(len(sample), 1)))
        self._train_cells(sample, seed)
        # 48 tiny k-means (4,096 points, 8 dims, 16 centres): OpenMP's barriers cost more than
        # they save, 10x on a busy 2-core machine.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            self.index.train(np.ascontiguousarray(sample))
        finally:
            faiss.omp_set_num_threads(threads)


def _sample(source: Iterable, dimension: int, seed: int, nlist: int | None, queries: int,
            train: bool = True, size: int | None = None) -> tuple[int, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A uniform training sample and a uniform sample of held-out queries (one pass, or two
    when ``size`` is not given), and the size."""
    rng = np.random.default_rng(seed)
    if size is None:
        size = sum(len(ids) for ids, _ in source)
    want = 0
    if train and size:
        lists = nlist or default_nlist(size)
        want = min(size, max(39 * lists, min(TRAIN_PER_LIST * lists, TRAIN_MAX)))
    n_queries = min(queries, size)
    train_rows = np.sort(rng.choice(size, want, replace=False)) if want else np.zeros(0, np.int64)
    query_rows = np.sort(rng.choice(size, n_queries, replace=False)) if n_queries else np.zeros(0, np.int64)
    train_out = np.empty((len(train_rows), dimension), np.float32)
    query_vectors = np.empty((n_queries, dimension), np.float32)
    query_ids = np.empty(n_queries, np.int64)
    offset = 0
    for ids, vectors in source:
        if offset >= size:
            break
        end = offset + len(ids)
        for rows, write in ((train_rows, None), (query_rows, "q")):
            lo, hi = np.searchsorted(rows, [offset, end])
            if hi > lo:
                local = rows[lo:hi] - offset
                if write is None:
                    train_out[lo:hi] = vectors[local]
                else:
                    query_vectors[lo:hi] = vectors[local]
                    query_ids[lo:hi] = ids[local]
        offset = end
    return size, train_out, (query_ids, _unit(query_vectors) if n_queries else query_vectors)


def _recall(truth: np.ndarray, found: np.ndarray, depth: int, k: int) -> np.ndarray:
    """Per query, the share of the true top ``k`` among the first ``depth`` candidates."""
    out = np.empty(len(truth))
    for row in range(len(truth)):
        wanted = truth[row][truth[row] >= 0]
        if not len(wanted):
            out[row] = 1.0
            continue
        out[row] = len(np.intersect1d(wanted, found[row, :depth])) / len(wanted)
    return out
