"""The protocol every vector backend implements.

A backend holds chunk vectors keyed by chunk row id (SQLite's ``chunks.id``) and
answers top-k queries.  It is a cache of what SQLite holds: it can always be rebuilt
from the stored vectors (:mod:`semsearch.vectors.sync` decides when), so a backend
needs no durability of its own beyond an atomic :meth:`save`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

METRICS = ("cosine", "euclidean", "manhattan")


@runtime_checkable
class VectorBackend(Protocol):
    """Vectors keyed by int64 ids; scores are higher-is-better for every metric."""

    kind: ClassVar[str]  # the name stored as the index's ``index_type``
    dimension: int

    @property
    def size(self) -> int:
        """How many vectors it holds."""

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add unit vectors under new ids."""

    def remove(self, ids: Iterable[int]) -> None:
        """Drop these ids (unknown ones are ignored)."""

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None, metric: str = "cosine"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` of the top ``k`` per query, best first; ids are -1 past the last hit.

        ``allowed``: only these ids may be returned.
        """

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""

    @classmethod
    def load(cls, path: Path, dimension: int) -> VectorBackend:
        """Read a saved file; raises ``ValueError`` when it is not a usable index of this kind."""

    @classmethod
    def build(cls, dimension: int, batches: Iterable[tuple[np.ndarray, np.ndarray]], **params) -> VectorBackend:
        """A new backend from ``(ids, vectors)`` batches."""
