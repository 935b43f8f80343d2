"""Vectors embedded elsewhere: stored as given (one chunk per text), searched by vector.

Users who embed on a GPU box or in a data pipeline hand :meth:`Index.add` the rows and
:meth:`Index.search_vectors` the queries; both must have the index's dimension and are
normalised to unit length here, as the index's own vectors are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from .chunking import Chunk
from .ingest import Planned, Prepared
from .settings import IndexSettings

# Chunks per transaction when the vectors are given: with nothing to embed, a larger batch
# costs an interrupted run no model time, and the writer's keyword statistics (one upsert
# per distinct term of a transaction) cost about a third of what they do at 256 chunks
# (bench/writer.py).  Every transaction is still atomic.
COMMIT_CHUNKS = 4096


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
        pending: list[Planned] = []
        for batch in batches:  # merged into larger transactions (COMMIT_CHUNKS)
            pending.extend(batch)
            if len(pending) >= COMMIT_CHUNKS:
                yield self._prepared(pending)
                pending = []
        if pending:
            yield self._prepared(pending)

    def _prepared(self, batch: list[Planned]) -> list[Prepared]:
        return [
            Prepared(planned, [Chunk(0, 0, len(planned.doc.text), planned.doc.text)],
                     self.vectors[self.rows[planned.doc.id]][None, :])
            for planned in batch
        ]
