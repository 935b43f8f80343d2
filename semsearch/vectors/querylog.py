"""The last query vectors searched, kept beside the vector index to calibrate it on real queries.

Calibrating an approximate index on held-out *stored* vectors is all a new index can do, but
stored vectors are easier queries than real ones: they have close siblings in the corpus
(near-duplicates, versions, chunks of one document) where a real query has none.  On 9.2k
real MiniLM chunk vectors SciFact's queries missed 2-5x as many true neighbours as held-out
chunks at the same settings, and on 1M synthetic vectors (each with ~110 close siblings) a
setting calibrated at 0.95 gave real queries 0.886.  So every dense search appends its query
vectors (unit float32, never the text) to ``query-vectors.f32`` and, once
:data:`MIN_LOGGED` exist, calibration measures recall on the last :data:`CAPACITY` of them:
the workload itself (see :meth:`semsearch.vectors.ivf.IVFVectors.calibrate`).

The file is best-effort and append-only: one ``write`` of whole rows per search (``O_APPEND``,
so processes searching at once do not overwrite each other), cut back to the last
:data:`CAPACITY` rows when it reaches twice that; a file whose size is not a whole number
of rows (a torn write) is started again.  Deleting it loses nothing but the calibration
data.  A read-only index logs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

QUERY_LOG_FILE = "query-vectors.f32"
CAPACITY = 1000  # the last this many queries (1.5 MB at 384 dimensions)
MIN_LOGGED = 100  # enough for a mean recall within about +-0.02 (95%) at recall 0.95


class QueryLog:
    """Append query vectors; read the last :data:`CAPACITY` of them."""

    def __init__(self, path: Path, dimension: int, capacity: int = CAPACITY) -> None:
        self.path, self.dimension, self.capacity = Path(path), dimension, capacity
        self.row_bytes = 4 * dimension

    def append(self, vectors: np.ndarray) -> None:
        """Log unit, finite rows; errors (read-only or full disk) are ignored: the log is optional."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        norms = np.linalg.norm(vectors, axis=1)
        vectors = vectors[np.isfinite(norms) & (np.abs(norms - 1.0) < 1e-3)]
        if not len(vectors):
            return
        try:
            size = self.path.stat().st_size if self.path.exists() else 0
            if size % self.row_bytes:
                size = self._rewrite(np.zeros((0, self.dimension), np.float32))  # torn: start again
            if size // self.row_bytes + len(vectors) >= 2 * self.capacity:
                self._rewrite(np.concatenate([self.read(), vectors])[-self.capacity :])
                return
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, vectors.tobytes())
            finally:
                os.close(fd)
        except OSError:
            pass

    def _rewrite(self, vectors: np.ndarray) -> int:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(vectors.tobytes())
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return len(vectors) * self.row_bytes

    def count(self) -> int:
        """How many queries :meth:`read` returns (0 when the file is missing or torn)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return 0
        return 0 if size % self.row_bytes else min(self.capacity, size // self.row_bytes)

    def read(self) -> np.ndarray:
        """The last :data:`CAPACITY` logged query vectors, oldest first (none when missing or torn)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            data = b""
        if len(data) % self.row_bytes:
            data = b""
        rows = np.frombuffer(data, dtype=np.float32).reshape(-1, self.dimension)
        return np.array(rows[-self.capacity :])


__all__ = ["CAPACITY", "MIN_LOGGED", "QUERY_LOG_FILE", "QueryLog"]
