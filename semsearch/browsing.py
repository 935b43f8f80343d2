"""Read-side views for apps and the web page: pages of documents, facets, a clustering's map.

Pure reads of an open :class:`~semsearch.index.Index`, each inside one snapshot of the
calling thread's own connection (``Index._reading``); nothing here writes.  The HTTP
server calls these from its reading threads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from .clustering import PROJECTIONS
from .errors import InvalidArgument, NotFound
from .mapping import project_2d
from .storing import Store

# Facets: a metadata field is offered as a filter when it has few distinct scalar values.
FACET_MAX_VALUES = 50
FACET_MAX_FIELDS = 12
# The map: UMAP above this many documents takes minutes on a small machine; PCA instead.
UMAP_MAX_POINTS = 20_000
# Keywords of a selection: the texts of at most this many selected documents are read.
SELECTION_MAX_DOCUMENTS = 500


@contextmanager
def _snapshot(index) -> Iterator[Store]:
    """This thread's connection to the index, inside one read transaction."""
    with index._reading(vectors=False) as (store, _):
        yield store


def documents_page(index, offset: int = 0, limit: int = 50) -> dict:
    """``{"total", "offset", "limit", "documents": [{id, title, source, metadata, chunks, added, updated}]}``."""
    if offset < 0:
        raise InvalidArgument(f"offset must be 0 or more, not {offset}")
    if not 1 <= limit <= 1000:
        raise InvalidArgument(f"limit must be between 1 and 1000, not {limit}")
    with _snapshot(index) as store:
        total = store.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        rows = store.conn.execute(
            "SELECT id, title, source, metadata, chunk_count, added, updated FROM documents ORDER BY pk "
            "LIMIT ? OFFSET ?", (limit, offset),
        ).fetchall()
    keys = ("id", "title", "source", "metadata", "chunks", "added", "updated")
    documents = []
    for row in rows:
        record = dict(zip(keys, row))
        record["metadata"] = json.loads(record["metadata"])
        documents.append(record)
    return {"total": total, "offset": offset, "limit": limit, "documents": documents}


def document(index, doc_id: str) -> dict:
    """One stored document with its chunks' character spans (for scrolling to a chunk)."""
    with _snapshot(index) as store:
        record = store.document(doc_id)
        if record is None:
            raise NotFound(f"no document {doc_id!r} in the index")
        spans = store.conn.execute(
            'SELECT position, start, "end" FROM chunks WHERE document = ? ORDER BY position', (record["pk"],)
        ).fetchall()
    record.pop("pk")
    record["chunk_spans"] = [{"chunk": p, "start": s, "end": e} for p, s, e in spans]
    return record


def facets(index, max_values: int = FACET_MAX_VALUES) -> list[dict]:
    """Metadata fields with few distinct scalar values, each value with its document count.

    ``[{"field", "values": [{"value", "count"}], "documents"}]``, fields by coverage, values by count.
    """
    with _snapshot(index) as store:
        rows = store.conn.execute(
            "SELECT j.key, j.type, j.value, count(*) FROM documents d, json_each(d.metadata) j "
            "WHERE j.type IN ('text', 'integer', 'real', 'true', 'false') GROUP BY j.key, j.value"
        ).fetchall()
    fields: dict[str, list[tuple[str, int]]] = {}
    for key, kind, value, count in rows:
        shown = "true" if kind == "true" else "false" if kind == "false" else str(value)
        fields.setdefault(key, []).append((shown, count))
    found = []
    for key, values in fields.items():
        if len(values) > max_values or all(count == 1 for _, count in values):
            continue  # an identifier or free text, not a category
        values.sort(key=lambda v: (-v[1], v[0]))
        found.append({"field": key, "documents": sum(c for _, c in values),
                      "values": [{"value": v, "count": c} for v, c in values]})
    found.sort(key=lambda f: (-f["documents"], f["field"]))
    return found[:FACET_MAX_FIELDS]


def clustering_map(index, name: str, projection: str = "auto") -> dict:
    """A stored run's documents placed in 2-D, in compact parallel arrays.

    ``projection``: ``umap``, ``pca`` or ``auto`` (UMAP up to ``UMAP_MAX_POINTS``
    documents, PCA above).  Coordinates are scaled into [0, 1] on the longer side.
    Only documents still in the index are placed, by their labels in the run.
    """
    if projection not in (*PROJECTIONS, "auto"):
        raise InvalidArgument(f"unknown projection {projection!r}: use auto, {', '.join(PROJECTIONS)}")
    run = index.clustering(name)
    with _snapshot(index) as store:
        ids, _, _ = store.document_table()
        vectors = store.document_vectors(index.settings.dimension)
        titles = dict(store.conn.execute("SELECT id, coalesce(title, '') FROM documents").fetchall())
    keep = [i for i, doc_id in enumerate(ids) if doc_id in run.assignments]
    if projection == "auto":
        projection = "umap" if len(keep) <= UMAP_MAX_POINTS else "pca"
    if keep:
        coords = np.asarray(project_2d(vectors[keep], projection, int(run.params.get("seed", 0))), dtype=np.float64)
        low, span = coords.min(axis=0), np.ptp(coords, axis=0).max()
        coords = (coords - low) / (span if span > 0 else 1.0)
    else:
        coords = np.zeros((0, 2))
    kept = [ids[i] for i in keep]
    return {
        "name": name, "projection": projection, "points": len(kept),
        "ids": kept, "titles": [titles.get(d, "") for d in kept],
        "labels": [int(run.assignments[d]) for d in kept],
        "x": [round(float(v), 5) for v in coords[:, 0]], "y": [round(float(v), 5) for v in coords[:, 1]],
        "clusters": [c.to_dict() for c in run.clusters],
    }


def selection_keywords(index, doc_ids: Sequence[str], n: int = 10) -> dict:
    """Key phrases of a selection of documents (as one text, TF-IDF against the whole index)."""
    ids = list(dict.fromkeys(str(d) for d in doc_ids))
    if not ids:
        raise InvalidArgument("select at least one document")
    sample = ids[:SELECTION_MAX_DOCUMENTS]
    texts = []
    with _snapshot(index) as store:
        for doc_id in sample:
            record = store.document(doc_id)
            if record is not None:
                texts.append(record["text"])
    if not texts:
        raise NotFound("none of the selected documents is in the index")
    found = index.keywords(text="\n\n".join(texts), method="tfidf", n=n)
    return {"documents": len(ids), "read": len(texts), "keywords": [k.to_dict() for k in found]}


def clustering_view(index, name: str, projection: str = "auto", with_map: bool = True,
                    cache: dict | None = None) -> dict:
    """A stored run (without its assignments), what changed since, and its map (cached by state)."""
    run = index.clustering(name, with_assignments=False).to_dict()
    run.pop("assignments", None)
    with _snapshot(index) as store:
        run["changes"] = store.clustering_changes(name)
        generation = store.generation()
    if with_map:
        key = (name, projection, generation, run["created"])
        if cache is None or key not in cache:
            computed = clustering_map(index, name, projection)
            if cache is None:
                return {**run, "map": computed}
            if len(cache) > 8:
                cache.clear()
            cache[key] = computed
        run["map"] = cache[key]
    return run
