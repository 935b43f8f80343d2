"""Stored clustering runs: compute one over an index's document vectors, store it, read it back.

:mod:`semsearch.clustering` holds the algorithms; this module owns the runs an index
keeps (named, with assignments by document id and content hash) and the
``NAME:LABEL`` references that filter searches to one cluster.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from .clustering import (
    PROJECTIONS,
    Cluster,
    Clustering,
    check_params,
    compute,
    describe,
)
from .docvectors import DEFAULT_DOCUMENT_VECTOR
from .errors import InvalidArgument, NotFound, SemsearchError
from .mapping import check_plot_path
from .storing import ClusterFilter, Store, now
from .text import coverage
from .text.termvectors import DIMENSIONS, side_by_side, term_vectors

log = logging.getLogger("semsearch")

# A cluster of a stored clustering run: "NAME:LABEL" or (name, label).
ClusterRef = str | tuple[str, int] | None


def check_run_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise InvalidArgument(f"bad clustering name {name!r}: it must be non-empty, without surrounding spaces")
    if ":" in name:
        raise InvalidArgument(f"bad clustering name {name!r}: ':' separates a name from a cluster in NAME:LABEL")


def run(store: Store, dimension: int, method: str, params_in: dict, *, name: str | None, save: bool,
        plot: str | os.PathLike | None, plot_projection: str, show_progress: bool, cache: dict,
        document_vector: str = DEFAULT_DOCUMENT_VECTOR) -> Clustering:
    """Cluster every document by its stored vector; store the run unless ``save`` is false.

    ``cache`` keeps the last UMAP/PCA reduction for the generation it was made at.
    """
    if name is not None:
        check_run_name(name)
    if plot is not None:
        check_plot_path(plot)
        if plot_projection not in PROJECTIONS:
            raise InvalidArgument(f"unknown projection {plot_projection!r}: use umap or pca")
    started = time.perf_counter()
    with store.snapshot():
        generation = store.generation()
        ids, hashes, texts = store.document_table()
        params = check_params(method, len(ids), dimension, **params_in)
        vectors = store.document_vectors(dimension, document_vector)
        unknown, tokens = store.unknown_tokens()
    share = unknown / tokens if tokens else 0.0
    if cache.get("generation") != generation:
        cache.clear()
        cache["generation"] = generation
    model_vectors = vectors
    vectors, weight = document_vectors(params["vectors"], vectors, texts, store.analyzer, share, params["seed"],
                                       cache=cache.setdefault("terms", {}))
    log.info("clustering %d documents with %s ...", len(ids), method)
    reductions = cache.setdefault("reductions", {})
    computed = compute(vectors, method, params, show_progress=show_progress, cache=reductions,
                       k_vectors=model_vectors if 0.0 < weight < 1.0 else None)
    labels, vectors = computed.labels, computed.vectors
    clusters = describe(vectors, labels, ids, texts, analyzer=store.analyzer)
    details = {**computed.details, "index_generation": generation, "model_weight": round(weight, 3),
               "vectors": "model" if weight >= 1.0 else "terms" if weight <= 0.0 else "hybrid"}
    details["seconds"]["total"] = round(time.perf_counter() - started, 3)
    result = Clustering(
        method=method, params=computed.params, clusters=clusters,
        assignments=dict(zip(ids, labels.tolist())), created=now(), documents=len(ids), details=details,
    )
    log.info("%d clusters, %.1f%% noise", result.num_clusters, 100 * result.noise_fraction)
    if save:
        result.name = name or default_name(store, method, computed.params)
        replaced = store.save_clustering(
            result.name, method=method, params=result.params, details=details, created=result.created,
            clusters=[c.to_dict() for c in clusters], assignments=zip(ids, hashes, labels.tolist()),
        )
        result.details["replaced"] = replaced
    elif name is not None:
        result.name = name
    if plot is not None:
        pictured = model_vectors if weight > 0 else vectors  # the model's map, unless it cannot read the text
        result.plot = draw(pictured, labels, clusters, plot, plot_projection, params["seed"],
                           heading=f"{result.name or method}: {len(ids)} documents")
    return result


def document_vectors(kind: str, model: np.ndarray, texts: list[str], analyzer, unknown_share: float, seed: int,
                     cache: dict | None = None) -> tuple[np.ndarray, float]:
    """The vectors a run clusters (``kind``: hybrid, model or terms) and the model's weight in them.

    The model's weight follows the corpus' unknown-token share as hybrid search's does a
    query's: half at up to 5% unknown, none from 30% on (its vectors of text it cannot
    read are noise), linear between.  ``model`` asked for explicitly is used whatever the
    share, with a warning.  ``cache`` (kept by the caller for one index generation) keeps
    the words' vectors by seed: another run on the same documents does not compute them again.
    """
    if kind == "model":
        if unknown_share >= coverage.UNKNOWN_OFF:
            log.warning("%.0f%% of the corpus' tokens are unknown to the model: its vectors of this text carry "
                        "little; --vectors hybrid (the default) or terms clusters the words", 100 * unknown_share)
        return model, 1.0
    dense, keyword = coverage.fusion_weights(unknown_share)
    weight = dense / (dense + keyword) if kind == "hybrid" else 0.0
    if kind == "hybrid" and unknown_share >= coverage.UNKNOWN_OFF:
        log.warning("%.0f%% of the corpus' tokens are unknown to the model: clustering TF-IDF vectors of "
                    "its words (SVD to %d dimensions) instead of the model's", 100 * unknown_share, DIMENSIONS)
    terms = cache.get(seed) if cache is not None else None
    if terms is None:
        started = time.perf_counter()
        terms = term_vectors(texts, analyzer, seed=seed)
        log.info("vectors of the documents' words (TF-IDF, SVD to %d dimensions) in %.1fs; the model's weight %.2f",
                 terms.shape[1], time.perf_counter() - started, weight)
        if cache is not None:  # the last seed's only: 400 bytes a document
            cache.clear()
            cache[seed] = terms
    return side_by_side(model, terms, weight), weight


def default_name(store: Store, method: str, params: dict) -> str:
    if method == "kmeans":
        base = f"kmeans-k{params['k']}"
    elif method == "dbscan":
        base = f"dbscan-eps{params['eps']:.3g}"
    else:
        base = f"hdbscan-mcs{params['min_cluster_size']}"
    taken = set(store.clustering_names())
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def draw(vectors, labels, clusters: list[Cluster], path, projection: str, seed: int, heading: str) -> dict:
    """Write the 2-D map of a run as a PNG."""
    from .mapping import plot_map, project_2d

    started = time.perf_counter()
    log.info("projecting %d documents to 2-D with %s for the plot ...", len(vectors), projection.upper())
    coords = project_2d(vectors, projection, seed)
    points = plot_map(coords, labels, {c.label: c.title for c in clusters}, path,
                      heading=f"{heading} ({projection.upper()} 2-D)")
    log.info("wrote %s (%d points) in %.1fs", path, points, time.perf_counter() - started)
    return {"path": str(path), "points": points, "projection": projection}


def summaries(store: Store) -> list[dict]:
    runs = store.clustering_summaries()
    for item in runs:
        item["noise_fraction"] = round(item["noise"] / item["documents"], 4) if item["documents"] else 0.0
    return runs


def stored(store: Store, name: str, label: int | None = None, *, with_assignments: bool = True) -> Clustering:
    found = store.clustering(name, label=label, assignments=with_assignments)
    if found is None:
        names = store.clustering_names()
        raise NotFound(
            f"no clustering named {name!r}: "
            + (f"the stored ones are {', '.join(names)}" if names else "this index has none; make one with "
               "`semsearch cluster`")
        )
    result = Clustering(
        method=found["method"], params=found["params"], clusters=[Cluster(**c) for c in found["clusters"]],
        assignments=found["assignments"], created=found["created"], documents=found["documents"],
        name=found["name"], details=found["details"],
        changes=store.clustering_changes(name) if with_assignments else None, only=label,
    )
    if label is not None:
        result.cluster(label)  # raises for a label the run does not have, listing those it has
    return result


def delete(store: Store, name: str) -> None:
    with store.transaction(bump=False):
        found = store.delete_clustering(name)
    if not found:
        stored(store, name)  # raises: no clustering named ...


def redraw(store: Store, dimension: int, name: str, path: str | os.PathLike, projection: str,
           document_vector: str = DEFAULT_DOCUMENT_VECTOR) -> dict:
    """Draw a stored run's map again: its documents still in the index, by their labels then."""
    found = stored(store, name)
    with store.snapshot():
        ids, _, _ = store.document_table()
        vectors = store.document_vectors(dimension, document_vector)
    keep = [i for i, doc_id in enumerate(ids) if doc_id in found.assignments]
    if not keep:
        raise SemsearchError(f"none of the documents of clustering {name!r} is still in the index")
    labels = np.array([found.assignments[ids[i]] for i in keep], dtype=np.int64)
    return draw(vectors[keep], labels, found.clusters, path, projection, int(found.params.get("seed", 0)),
                heading=f"{name}: {len(keep)} documents")


def cluster_filter(store: Store, cluster: ClusterRef) -> list[ClusterFilter]:
    """The filter for a ``NAME:LABEL`` reference (none for ``None``); raises for unknown ones."""
    if cluster is None:
        return []
    if isinstance(cluster, str):
        name, sep, label = cluster.rpartition(":")
        if not sep or not name:
            raise InvalidArgument(f"{cluster!r} is not NAME:LABEL (a clustering name and a cluster number)")
    elif isinstance(cluster, tuple) and len(cluster) == 2:
        name, label = cluster
    else:
        raise InvalidArgument(f"cluster must be 'NAME:LABEL' or (name, label), not {cluster!r}")
    try:
        label = int(label)
    except (TypeError, ValueError):
        raise InvalidArgument(f"cluster label {label!r} is not a number") from None
    stored(store, name, with_assignments=False).cluster(label)  # raises for an unknown name or label
    return [ClusterFilter(name, label)]
