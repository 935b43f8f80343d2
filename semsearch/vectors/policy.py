"""Which vector backend an index uses, by its size, and keeping an approximate one honest.

An index records the type asked for (``vector_policy``: ``auto``, ``exact``, ``ivf`` or
``ivfpq``) and the recall target (``recall_target``) once, in its settings;
``index_type`` is the backend in use now.  ``auto`` keeps the exact scan up to
:data:`AUTO_IVF_AT` chunks (the measured crossover, see ``bench/scale.py``), then IVF
with SQ8 codes, then from :data:`AUTO_IVFPQ_AT` IVF with 4-bit PQ codes.

After every write (:func:`upkeep`): a backend of the wrong type for the size is rebuilt
from the stored vectors; an approximate one is re-calibrated when it has doubled since
it was last measured and retrained when it has quadrupled since training or lost half
of it to deletes.  What was measured is written to the settings (``vector_index``) for
``semsearch info``.

:class:`ExactScan` answers a search exactly by streaming every stored vector from
SQLite, for ``--exact`` on an approximate index (bounded memory, however large).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .ivf import DEFAULT_RECALL, TopK

if TYPE_CHECKING:
    from ..storing import Store
    from .base import VectorBackend
    from .querylog import QueryLog

log = logging.getLogger("semsearch")

POLICIES = ("auto", "exact", "ivf", "ivfpq")
# auto: exact below, IVF-SQ8 from here.  bench/scale.py (one contended run, 200 real queries,
# 100k-1M synthetic chunks): IVF at the nprobe where real queries get recall@10 >= 0.95 was
# 22x faster than the exact scan at 100k and 70-600x from 250k, so latency alone would switch
# below 100k; the exact scan is kept while it is exact *and* its vectors (float32 + int8 copy,
# 1,920 B a chunk) fit in 1 GB of RAM, the budget of issue 14: up to 520k chunks.
AUTO_IVF_AT = 500_000
# ... and IVF-PQ from here (SQ8 codes of 10M x 384 dims = 3.8 GB of RAM).
AUTO_IVFPQ_AT = 10_000_000


def choose_kind(policy: str, size: int) -> str:
    """The backend (a key of ``BACKENDS``) for ``policy`` at ``size`` chunks."""
    if policy == "exact":
        return "flat"
    if policy in ("ivf", "ivfpq"):
        return policy
    if policy != "auto":
        raise ValueError(f"unknown index type {policy!r}: use one of {', '.join(POLICIES)}")
    if size < AUTO_IVF_AT:
        return "flat"
    return "ivf" if size < AUTO_IVFPQ_AT else "ivfpq"


def check_recall(recall: float) -> float:
    recall = float(recall)
    if not 0.5 <= recall <= 1.0:
        raise ValueError(f"recall target must be between 0.5 and 1, not {recall}")
    return recall


class StoredVectors:
    """Every stored ``(ids, vectors)`` batch, readable more than once (an IVF build reads twice)."""

    def __init__(self, store: Store, dimension: int) -> None:
        self.store, self.dimension = store, dimension

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return self.store.iter_vectors(self.dimension)


def build_params(backend_class: type, store: Store, dimension: int, recall: float, fetch,
                 query_log: QueryLog | None = None) -> dict:
    """What ``build`` needs beyond the batches: nothing for the exact scan; for IVF the
    recall target, the size (one pass less), the reader of floats by id and the past queries."""
    if getattr(backend_class, "kind", "flat") == "flat":
        return {}
    return {"recall": recall, "size": store.counts()["chunks"], "fetch": fetch, "query_log": query_log}


def attach(backend: VectorBackend, fetch, query_log: QueryLog | None = None) -> VectorBackend:
    """Give an approximate backend its reader of float vectors by id (codes only in memory) and
    the log of past queries it calibrates on."""
    if fetch is not None and hasattr(backend, "fetch"):
        backend.fetch = fetch
    if query_log is not None and hasattr(backend, "query_log"):
        backend.query_log = query_log
    return backend


def describe(backend: VectorBackend | None, policy: str, recall: float) -> dict:
    """What ``semsearch info`` shows about the vector index."""
    described = backend.describe() if backend is not None and hasattr(backend, "describe") else {}
    kind = described.get("index_type") or getattr(backend, "kind", "flat")
    return {"policy": policy, "recall_target": recall, **described, "index_type": kind,
            "exact": kind == "flat"}


def needed_kind(policy: str, backend: VectorBackend) -> str | None:
    """The backend type ``policy`` wants at this size if it is not the current one."""
    wanted = choose_kind(policy, backend.size)
    return None if wanted == backend.kind else wanted


def maintain(backend: VectorBackend, store: Store, dimension: int) -> str | None:
    """Re-calibrate or retrain an approximate backend when its upkeep rule says so."""
    if not hasattr(backend, "maintenance") or backend.maintenance() is None:
        return None
    started = time.perf_counter()
    with store.snapshot():
        done = backend.maintain(StoredVectors(store, dimension))
    if done:
        cal = backend.calibration
        log.warning("%s the %s index at %d vectors in %.1fs: nprobe %d, refine %dxk, recall@%d %.3f",
                    "retrained" if done == "retrain" else "re-calibrated", backend.kind, backend.size,
                    time.perf_counter() - started, backend.nprobe, backend.refine, cal.k if cal else 10,
                    cal.recall if cal else float("nan"))
    return done


class ExactScan:
    """Exact search over every stored vector, streamed from SQLite (``--exact`` on an approximate
    index; any metric).  Slow at millions of chunks, but exact and in bounded memory."""

    kind = "exact-scan"

    def __init__(self, store: Store, dimension: int) -> None:
        self.store, self.dimension = store, dimension

    @property
    def size(self) -> int:
        return self.store.counts()["chunks"]

    def search(self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None,
               metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dimension)
        allowed_set = None if allowed is None else np.unique(np.asarray(allowed, dtype=np.int64))
        top = TopK(queries, k)
        for ids, vectors in self.store.iter_vectors(self.dimension):
            if allowed_set is not None:
                keep = np.isin(ids, allowed_set)
                ids, vectors = ids[keep], vectors[keep]
            if metric == "cosine":
                top.update(ids, vectors)
                continue
            if metric == "euclidean":
                distances = np.sqrt(np.maximum(
                    (queries**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2 * queries @ vectors.T, 0))
            else:
                distances = np.abs(queries[:, None, :] - vectors[None, :, :]).sum(-1)
            top.merge(ids, (1.0 / (1.0 + distances)).astype(np.float32))
        scores, ids = top.scores, top.ids
        valid = ids >= 0
        width = int(valid.sum(1).max()) if len(ids) else 0
        return np.where(valid, scores, 0)[:, :width].astype(np.float32), ids[:, :width]


__all__ = ["AUTO_IVFPQ_AT", "AUTO_IVF_AT", "DEFAULT_RECALL", "POLICIES", "ExactScan", "StoredVectors",
           "choose_kind"]
