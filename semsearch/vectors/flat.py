"""The flat backend: exact FAISS search over every chunk vector, keyed by chunk row id.

The FAISS file is a cache of what SQLite holds: it is written atomically (temp
file, fsync, rename) and rebuilt from the stored vectors whenever it is missing,
unreadable or behind the database (see :mod:`semsearch.vectors.sync`).

Unfiltered cosine search is exact but does not scan the float32 vectors: a scan
of 100k x 384 floats is bound by memory bandwidth (~20 ms in FAISS here).  It
scans an int8 copy instead (a quarter of the bytes, ~4 ms), whose scores are within
a bound computed for each query of the exact ones, then scores exactly every
vector that could still belong to the top k (see :meth:`VectorIndex._screened_search`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import faiss
import numpy as np

from ..integrity import fsync_path
from .base import METRICS

# Vectors scored approximately per exact top-k slot before checking whether that sufficed.
SCREEN_POOL_FACTOR = 4
SCREEN_POOL_MIN = 64


class FlatVectors:
    """Exact inner-product search over unit vectors (= cosine), with ids."""

    kind: ClassVar[str] = "flat"

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._screen: _Screen | None = None  # the int8 copy, made on first search after a change
        # Searches run in many threads at once (the index's read lock is shared): the first
        # ones after a change must not see a screen that another is still filling.
        self._screen_lock = threading.Lock()

    @classmethod
    def build(cls, dimension: int, batches: Iterable[tuple[np.ndarray, np.ndarray]], **params) -> FlatVectors:
        index = cls(dimension)
        for ids, vectors in batches:
            index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, path: Path, dimension: int) -> FlatVectors:
        """Read a FAISS file; raises ValueError when it is not a usable index."""
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"unreadable FAISS file: {str(exc).splitlines()[0]}") from None
        if not isinstance(index, faiss.IndexIDMap2) or not isinstance(
            faiss.downcast_index(index.index), faiss.IndexFlatIP
        ):
            raise ValueError(f"FAISS file holds a {type(index).__name__}, not a flat index with ids")
        if index.d != dimension:
            raise ValueError(f"FAISS file has dimension {index.d}, expected {dimension}")
        return cls(dimension, index)

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            faiss.write_index(self.index, str(tmp))
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:  # a full disk, an interrupt: leave no half-written temporary behind
            tmp.unlink(missing_ok=True)
            raise
        fsync_path(path.parent)  # the rename itself survives a crash

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            ids = np.asarray(ids, dtype=np.int64)
            self.index.add_with_ids(vectors, ids)
            if self._screen is not None:  # FAISS appends: so does the screen, without redoing the rest
                self._screen.extend(ids, vectors)

    def remove(self, ids: Iterable[int]) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids):
            self.index.remove_ids(ids)
            self._screen = None

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        """A copy of the stored float32 vectors, in FAISS order (as :meth:`ids`)."""
        return np.array(self._view())

    def _view(self) -> np.ndarray:
        """The stored vectors without a copy: FAISS's own memory, so only valid until the next
        change and only while this object lives; never hand it out."""
        if self.size == 0:
            return np.zeros((0, self.dimension), np.float32)
        flat = faiss.downcast_index(self.index.index)
        view = faiss.rev_swig_ptr(flat.get_xb(), self.size * self.dimension).reshape(self.size, self.dimension)
        view.flags.writeable = False
        return view

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allowed: np.ndarray | None = None,
        metric: str = "cosine",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` chunks per query: ``(scores, ids)``; ids are -1 past the last hit.

        ``allowed`` restricts the search to those chunk ids before ranking.  For
        ``cosine`` the score is the cosine similarity; for the distance metrics it is
        ``1 / (1 + distance)``, so higher is better in every case.
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        k = max(1, min(k, self.size))
        if self.size == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if metric == "cosine":
            if allowed is None:
                results = [self._screened_search(query, k) for query in queries]
                return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
            scores, ids = self.index.search(queries, k, params=params)
            return scores, ids
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        # Exact brute force for the distance metrics, over the allowed subset only.
        base, base_ids = self._view(), self.ids()
        if allowed is not None:
            keep = np.isin(base_ids, allowed)
            base, base_ids = base[keep], base_ids[keep]
        if len(base_ids) == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        faiss_metric = faiss.METRIC_L2 if metric == "euclidean" else faiss.METRIC_L1
        distances, positions = faiss.knn(
            queries, np.ascontiguousarray(base), min(k, len(base_ids)), metric=faiss_metric
        )
        if metric == "euclidean":
            distances = np.sqrt(np.maximum(distances, 0))  # FAISS reports squared L2
        ids = np.where(positions >= 0, base_ids[np.clip(positions, 0, None)], -1)
        return 1.0 / (1.0 + distances), ids

    def _screened_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` by inner product, screening with the int8 copy first.

        Each vector (and the query) is stored as int8 times its own scale.  The integer
        dot products are exact, so an approximate score strays from the exact one by
        the rounding of the query and of the vector, plus float32 rounding: at most
        ``bound``.  Take the best ``pool`` by approximate score and score them exactly;
        if the k-th exact score beats every approximate score outside the pool by
        ``bound``, nothing outside can enter the top k.  Otherwise the vectors that
        could are exactly those with an approximate score within ``bound`` of it:
        score those too.  So the result is the exact top k, whatever the data.  Ties
        go to the vector added first.
        """
        screen = self._screen
        if screen is None:
            screen = self._make_screen()
        base = self._view()
        if screen.codes is None:  # no exact int8 matrix multiply in this torch: scan the floats
            candidates = np.arange(self.size)
        else:
            import torch

            query_codes, query_scale = quantise(query[None, :])
            query_error = float(np.linalg.norm(query - query_codes[0] * query_scale[0]))
            query_norm = float(np.linalg.norm(query))
            products = torch._int_mm(screen.codes, torch.from_numpy(np.ascontiguousarray(query_codes.T)))
            approximate = products[:, 0].numpy() * (screen.scales * query_scale[0])
            # Rounding of query and vectors; float32 error of the exact scores (d products
            # summed) and of scaling the integer products, both relative to |q| |x|.
            float_error = (2 * self.dimension + 4) * 2.0**-24 * (query_norm + query_error) * screen.max_norm
            bound = query_error * screen.max_norm + (query_norm + query_error) * screen.max_error + float_error
            pool = min(self.size, max(SCREEN_POOL_FACTOR * k, SCREEN_POOL_MIN))
            candidates = np.arange(self.size)
            if pool < self.size:
                candidates = np.sort(np.argpartition(-approximate, pool - 1)[:pool])
                exact = _rescore(base, candidates, query)
                kth = _kth_largest(exact, k)
                if approximate[candidates].min() + bound <= kth:
                    return self._best(exact, candidates, k, screen.ids)
                candidates = np.flatnonzero(approximate >= kth - bound)
        return self._best(_rescore(base, candidates, query), candidates, k, screen.ids)

    @staticmethod
    def _best(exact: np.ndarray, candidates: np.ndarray, k: int, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best of ``candidates`` (ascending FAISS positions) by ``exact``, earliest first on ties."""
        if len(exact) > k:
            kth = _kth_largest(exact, k)
            above = np.flatnonzero(exact > kth)
            keep = np.sort(np.concatenate([above, np.flatnonzero(exact == kth)[: k - len(above)]]))
            exact, candidates = exact[keep], candidates[keep]
        best = np.argsort(-exact, kind="stable")
        return exact[best].astype(np.float32), ids[candidates[best]]

    def _make_screen(self) -> _Screen:
        with self._screen_lock:
            if self._screen is None:
                screen = _Screen(self.dimension)
                screen.extend(self.ids(), self._view())
                self._screen = screen  # published only once complete
            return self._screen


def _kth_largest(values: np.ndarray, k: int) -> float:
    return np.partition(values, len(values) - k)[len(values) - k]


def _rescore(base: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Exact scores of ``rows``, summed in float64 and rounded once to float32.

    A float32 BLAS mat-vec rounds rows differently by their position, so identical
    vectors could score an ulp apart; this way they tie, and ties go by position.
    """
    scores = np.empty(len(rows), np.float32)
    query = query.astype(np.float64)
    for start in range(0, len(rows), 16384):  # bounded float64 temporaries
        scores[start : start + 16384] = base[rows[start : start + 16384]].astype(np.float64) @ query
    return scores


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row as int8 codes times a float32 scale (its largest magnitude maps to 127)."""
    scales = np.abs(vectors).max(axis=1).astype(np.float32) / 127
    scales[scales == 0] = 1.0
    codes = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return codes, scales


_INT8_EXACT: bool | None = None


def int8_matmul_is_exact() -> bool:
    """Whether ``torch._int_mm`` exists here and sums int8 products exactly in int32.

    Some CPU kernels (without VNNI) add pairs of products in saturating int16; the
    screen's bound assumes exact sums, so probe with the worst case: every product
    +-127 x 127, in runs of one sign.
    """
    global _INT8_EXACT
    if _INT8_EXACT is None:
        import torch

        a = torch.full((3, 64), 127, dtype=torch.int8)
        a[1] = -127
        a[2, ::2] = -127
        b = torch.full((64, 1), 127, dtype=torch.int8)
        try:
            _INT8_EXACT = bool(torch.equal(torch._int_mm(a, b), a.int() @ b.int()))
        except (AttributeError, RuntimeError):
            _INT8_EXACT = False
    return _INT8_EXACT


class _Screen:
    """An int8 copy of the vectors in FAISS order, and the bounds of its rounding."""

    def __init__(self, dimension: int) -> None:
        import torch

        exact = int8_matmul_is_exact()
        self.codes: torch.Tensor | None = torch.zeros((0, dimension), dtype=torch.int8) if exact else None
        self.scales = np.zeros(0, np.float32)
        self.ids = np.zeros(0, np.int64)
        self.max_error = 0.0  # largest |x - dequantised x| over the rows
        self.max_norm = 0.0

    def extend(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows (FAISS appends too); one copy of the codes however many rows."""
        import torch

        self.ids = np.concatenate([self.ids, ids])
        if self.codes is None or not len(ids):
            return
        codes, scales = [self.codes.numpy()], [self.scales]
        for start in range(0, len(vectors), 65536):  # in blocks, so the float32 temporaries stay small
            block = vectors[start : start + 65536]
            block_codes, block_scales = quantise(block)
            codes.append(block_codes)
            scales.append(block_scales)
            errors = np.linalg.norm(block - block_codes * block_scales[:, None], axis=1)
            self.max_error = max(self.max_error, float(errors.max()))
            self.max_norm = max(self.max_norm, float(np.linalg.norm(block, axis=1).max()))
        self.codes = torch.from_numpy(np.concatenate(codes))
        self.scales = np.concatenate(scales)
