"""Vector backends: the approximate or exact search over chunk vectors, kept in step with SQLite.

- :mod:`.base`: the :class:`VectorBackend` protocol (add, remove, search, save, load, build).
- :mod:`.flat`: :class:`FlatVectors`, exact search (an int8-screened scan).
- :mod:`.ivf`: :class:`IVFVectors` (IVF over SQ8 codes) and :class:`IVFPQVectors` (IVF over
  4-bit fast-scan PQ), approximate, refined exactly, with calibrated recall.
- :mod:`.policy`: which backend by size (``auto``), their upkeep, the streamed exact scan.
- :mod:`.sync`: :class:`VectorSync`, the freshness protocol between SQLite and the file.
"""

from __future__ import annotations

from .base import METRICS, VectorBackend
from .flat import FlatVectors
from .ivf import IVFPQVectors, IVFVectors

# Every backend by the name stored as an index's ``index_type``.
BACKENDS: dict[str, type[VectorBackend]] = {
    FlatVectors.kind: FlatVectors, IVFVectors.kind: IVFVectors, IVFPQVectors.kind: IVFPQVectors,
}


def backend_class(kind: str) -> type[VectorBackend]:
    from ..errors import SemsearchError

    try:
        return BACKENDS[kind]
    except KeyError:
        raise SemsearchError(
            f"this index uses vector index type {kind!r}, which this semsearch does not know "
            f"(it knows {', '.join(BACKENDS)}): upgrade semsearch"
        ) from None


__all__ = ["BACKENDS", "METRICS", "FlatVectors", "IVFPQVectors", "IVFVectors", "VectorBackend", "backend_class"]
