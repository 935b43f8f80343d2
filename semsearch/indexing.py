"""Indexing: the FAISS vector index over chunk vectors, keyed by chunk row id.

The FAISS file is a cache of what SQLite holds: it is written atomically (temp
file, fsync, rename) and rebuilt from the stored vectors whenever it is missing,
unreadable or behind the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import faiss
import numpy as np

METRICS = ("cosine", "euclidean", "manhattan")


class VectorIndex:
    """Exact inner-product search over unit vectors (= cosine), with ids."""

    def __init__(self, dimension: int, index: faiss.Index | None = None) -> None:
        self.dimension = dimension
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    @classmethod
    def build(cls, dimension: int, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
        index = cls(dimension)
        for ids, vectors in batches:
            index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorIndex:
        """Read a FAISS file; raises ValueError when it is not a usable index."""
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ValueError(f"unreadable FAISS file: {str(exc).splitlines()[0]}") from None
        if index.d != dimension or not isinstance(index, faiss.IndexIDMap2):
            raise ValueError(f"FAISS file has dimension {index.d}, expected {dimension}")
        return cls(dimension, index)

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
            )

    def remove(self, ids: Iterable[int]) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids):
            self.index.remove_ids(ids)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        flat = faiss.downcast_index(self.index.index)
        return faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, self.dimension)

    def search(
        self,
        queries: np.ndarray,
        k: int,
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
            params = None
            if allowed is not None:
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
            scores, ids = self.index.search(queries, k, params=params)
            return scores, ids
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}")
        # Exact brute force for the distance metrics, over the allowed subset only.
        base, base_ids = self.vectors(), self.ids()
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
