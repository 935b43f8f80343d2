"""Clustering: K-means, DBSCAN and HDBSCAN over document vectors, labelled and plotted.

A document's vector is made from its stored chunk vectors (``semsearch.docvectors``; no
re-embedding).  The pipeline, for every method:

1. optional reduction (``umap:N``, ``pca:N`` or ``none``); density methods default
   to ``umap:5``, because density estimates in 384 dimensions see almost nothing but
   noise (see the README for the measurements);
1a. centring (subtract the corpus mean, re-normalise) when the vectors are
   anisotropic, i.e. their mean pairwise cosine is above 0.3 (``center`` overrides);
2. the clustering itself; noise (DBSCAN, HDBSCAN) is label -1, and ``assign_noise``
   moves it to the nearest cluster centroid;
3. labels renumbered by size (0 = the largest cluster), then each cluster described
   by its top class-based TF-IDF terms (:func:`semsearch.keywords.class_tfidf`; a term
   in the top lists of a quarter of the clusters or more, and of three at least, is
   dropped as generic) and its most central documents (highest cosine to the cluster's mean vector).

Everything here works on arrays; :meth:`semsearch.Index.cluster` feeds it from the
index and stores the result.
"""

from __future__ import annotations

import html
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .embedding import normalised_mean
from .errors import NotFound, SemsearchError
from .keywords import class_tfidf

log = logging.getLogger("semsearch")

METHODS = ("kmeans", "dbscan", "hdbscan")
REDUCERS = ("umap", "pca", "none")
PROJECTIONS = ("umap", "pca")
NOISE = -1
DEFAULT_SEED = 0
DEFAULT_K_MAX = 20
DEFAULT_UMAP_DIMS = 5
DEFAULT_PCA_DIMS = 50
UMAP_NEIGHBOURS = 15
KMEANS_ITERATIONS = 50
KMEANS_REDOS = 5
# Points K-means trains on (a seeded sample beyond this); every point is then assigned.
KMEANS_TRAIN_POINTS = 200_000
SILHOUETTE_SAMPLE = 2_000
TOP_KEYWORDS = 10
REPRESENTATIVES = 3


# Centre the vectors (subtract the corpus mean, re-normalise) when their mean pairwise
# cosine exceeds this: anisotropic vectors, such as an all-layer average (0.67 on AG News;
# 0.05 for the bundled model's own pooling), share one big common direction that swamps
# the differences clustering needs.
ANISOTROPY_THRESHOLD = 0.3
# What a document is clustered by: its model vector, its words (TF-IDF reduced by SVD, see
# text/termvectors.py), or both ("hybrid": the two unit vectors side by side, weighted so that
# the cosine of two documents is the weighted mean of their two cosines). Hybrid is K-means'
# default for the reason hybrid search is the search default: the model knows what texts are
# about, the words know which named things they mention (AG News, k=4: model 0.593, words
# 0.509, hybrid 0.633). The density methods keep the model's vectors: the words' vectors hold
# many small tight groups (near-identical stories), which UMAP -> HDBSCAN and DBSCAN split
# off as clusters of their own (AG News HDBSCAN 0.40 -> 0.32, DBSCAN 0.51 -> 0.39).
VECTORS = ("hybrid", "model", "terms")


def default_vectors(method: str) -> str:
    return "hybrid" if method == "kmeans" else "model"


def default_reduce(method: str) -> str:
    return "none" if method == "kmeans" else f"umap:{DEFAULT_UMAP_DIMS}"


def default_density(n: int) -> int:
    """HDBSCAN's min_cluster_size and DBSCAN's min_samples by default: 1% of the documents, 5 to 100.

    On AG News (7,600 documents) smaller values shatter the four topics into
    dozens to hundreds of clusters; see the README.
    """
    return int(min(100, max(5, round(n / 100))))


# -- results ---------------------------------------------------------------------
@dataclass
class Cluster:
    """One cluster: its label (-1 = noise), size, top keywords and most central documents."""

    label: int
    size: int
    keywords: list[str] = field(default_factory=list)
    representative: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """A short human label: the top three keywords, a phrase standing in for its own words."""
        if self.label == NOISE:
            return "noise"
        chosen: list[str] = []
        for term in self.keywords:
            words = set(term.split())
            if any(words <= set(c.split()) for c in chosen):
                continue  # "prices" after "oil prices"
            chosen = [c for c in chosen if not set(c.split()) <= words]  # "oil" before "oil prices"
            chosen.append(term)
            if len(chosen) == 3:
                break
        return ", ".join(chosen) or f"cluster {self.label}"

    def to_dict(self) -> dict:
        return {"label": self.label, "size": self.size, "title": self.title,
                "keywords": list(self.keywords), "representative": list(self.representative)}


@dataclass
class Clustering:
    """A clustering run: what was asked, what came out, and (when stored) its name.

    ``assignments`` maps every document id covered to its cluster label (-1 = noise);
    a view of one cluster (``only``) holds that cluster's assignments only, and
    ``to_dict`` shows that cluster only.  ``params`` are the parameters actually used (``k`` and ``eps`` resolved when
    ``auto``); ``details`` what the run measured on the way (silhouette scores for
    ``k=auto``, the k-distance knee for ``eps=auto``, noise before assignment,
    seconds per step).  ``changes`` (stored runs) counts documents added, removed and
    changed in the index since the run.
    """

    method: str
    params: dict
    clusters: list[Cluster]
    assignments: dict[str, int]
    created: str
    documents: int
    name: str | None = None
    details: dict = field(default_factory=dict)
    changes: dict | None = None
    plot: dict | None = None
    only: int | None = None

    @property
    def labels(self) -> dict[str, int]:
        return self.assignments

    @property
    def sizes(self) -> dict[int, int]:
        return {c.label: c.size for c in self.clusters}

    @property
    def keywords(self) -> dict[int, list[str]]:
        return {c.label: c.keywords for c in self.clusters}

    @property
    def representatives(self) -> dict[int, list[str]]:
        return {c.label: c.representative for c in self.clusters}

    @property
    def num_clusters(self) -> int:
        return sum(1 for c in self.clusters if c.label != NOISE)

    @property
    def noise(self) -> int:
        return sum(c.size for c in self.clusters if c.label == NOISE)

    @property
    def noise_fraction(self) -> float:
        return self.noise / self.documents if self.documents else 0.0

    def cluster(self, label: int) -> Cluster:
        for c in self.clusters:
            if c.label == label:
                return c
        known = ", ".join(str(c.label) for c in self.clusters)
        which = f"clustering {self.name!r}" if self.name else "this clustering"
        raise NotFound(f"{which} has no cluster {label} (its labels: {known})")

    def members(self, label: int) -> list[str]:
        return [doc_id for doc_id, value in self.assignments.items() if value == label]

    def to_dict(self) -> dict:
        data = {
            "name": self.name, "method": self.method, "params": dict(self.params), "created": self.created,
            "documents": self.documents, "num_clusters": self.num_clusters,
            "noise": self.noise, "noise_fraction": round(self.noise_fraction, 4),
            "clusters": [c.to_dict() for c in self.clusters if self.only is None or c.label == self.only],
            "details": dict(self.details),
            "assignments": dict(self.assignments),
        }
        if self.changes is not None:
            data["changes"] = dict(self.changes)
        if self.plot is not None:
            data["plot"] = dict(self.plot)
        return data


# -- parameters --------------------------------------------------------------------
def parse_reduce(spec: str | None, method: str, dimension: int) -> tuple[str, int | None]:
    """``umap:N`` / ``umap`` / ``pca:N`` / ``pca`` / ``none`` -> ``(reducer, dims)``."""
    text = (spec or default_reduce(method)).strip().lower()
    kind, _, dims = text.partition(":")
    if kind not in REDUCERS:
        raise SemsearchError(f"unknown reduction {spec!r}: use umap:N, pca:N or none")
    if kind == "none":
        if dims:
            raise SemsearchError(f"bad reduction {spec!r}: 'none' takes no dimension")
        return "none", None
    if not dims:
        return kind, DEFAULT_UMAP_DIMS if kind == "umap" else min(DEFAULT_PCA_DIMS, dimension)
    try:
        n = int(dims)
    except ValueError:
        raise SemsearchError(f"bad reduction {spec!r}: the dimension must be a whole number") from None
    if not 1 <= n < dimension:
        raise SemsearchError(f"bad reduction {spec!r}: the dimension must be between 1 and {dimension - 1}")
    return kind, n


def check_params(
    method: str,
    n: int,
    dimension: int,
    *,
    k: int | str | None = None,
    k_max: int | None = None,
    eps: float | str | None = None,
    min_samples: int | None = None,
    min_cluster_size: int | None = None,
    reduce: str | None = None,
    assign_noise: bool = False,
    center: bool | None = None,
    seed: int = DEFAULT_SEED,
    vectors: str | None = None,
) -> dict:
    """Validate a run's parameters against the method and the corpus; fill in defaults."""
    if method not in METHODS:
        raise SemsearchError(f"unknown clustering method {method!r}: use one of {', '.join(METHODS)}")
    vectors = default_vectors(method) if vectors is None else vectors
    if vectors not in VECTORS:
        raise SemsearchError(f"unknown document vectors {vectors!r}: use one of {', '.join(VECTORS)}")
    if n == 0:
        raise SemsearchError("the index has no documents to cluster")

    def only(name: str, value, methods: Sequence[str]) -> None:
        if value is not None and method not in methods:
            raise SemsearchError(f"{name} applies to {' and '.join(methods)}, not {method}")

    only("k", k, ["kmeans"])
    only("k_max", k_max, ["kmeans"])
    only("eps", eps, ["dbscan"])
    only("min_cluster_size", min_cluster_size, ["hdbscan"])
    only("min_samples", min_samples, ["dbscan", "hdbscan"])
    if assign_noise and method == "kmeans":
        raise SemsearchError("assign_noise applies to dbscan and hdbscan: K-means leaves no noise")
    reducer, dims = parse_reduce(reduce, method, dimension)
    params: dict = {"vectors": vectors, "reduce": reducer if dims is None else f"{reducer}:{dims}",
                    "center": "auto" if center is None else bool(center), "seed": int(seed)}
    if reducer == "umap" and n < dims + 3:
        raise SemsearchError(
            f"{n} documents are too few for UMAP to {dims} dimensions (it needs at least {dims + 3}); "
            f"use --reduce none or a smaller dimension"
        )
    if method == "kmeans":
        if k is None or str(k).lower() == "auto":
            k_max = DEFAULT_K_MAX if k_max is None else int(k_max)
            if k_max < 2:
                raise SemsearchError(f"k_max must be at least 2, not {k_max}")
            if n < 3:
                raise SemsearchError(f"k=auto needs at least 3 documents; the index has {n}")
            params.update(k="auto", k_max=min(k_max, n - 1))
        else:
            try:
                k = int(k)
            except (TypeError, ValueError):
                raise SemsearchError(f"k must be a whole number or 'auto', not {k!r}") from None
            if k < 2:
                raise SemsearchError(f"k must be at least 2, not {k}")
            if k > n:
                raise SemsearchError(f"k={k} is more than the {n} documents in the index")
            params["k"] = k
    elif method == "dbscan":
        min_samples = default_density(n) if min_samples is None else int(min_samples)
        if not 1 <= min_samples <= n:
            raise SemsearchError(f"min_samples must be between 1 and the number of documents ({n}), not {min_samples}")
        if eps is None or str(eps).lower() == "auto":
            eps = "auto"
        else:
            try:
                eps = float(eps)
            except (TypeError, ValueError):
                raise SemsearchError(f"eps must be a positive number or 'auto', not {eps!r}") from None
            if not (eps > 0 and math.isfinite(eps)):
                raise SemsearchError(f"eps must be a positive number, not {eps}")
        params.update(eps=eps, min_samples=min_samples, metric="cosine" if reducer == "none" else "euclidean")
    else:
        min_cluster_size = default_density(n) if min_cluster_size is None else int(min_cluster_size)
        if not 2 <= min_cluster_size <= n:
            raise SemsearchError(
                f"min_cluster_size must be between 2 and the number of documents ({n}), not {min_cluster_size}"
            )
        if min_samples is not None and not 1 <= int(min_samples) <= n:
            raise SemsearchError(f"min_samples must be between 1 and the number of documents ({n}), not {min_samples}")
        params.update(min_cluster_size=min_cluster_size,
                      min_samples=None if min_samples is None else int(min_samples))
    if method != "kmeans":
        params["assign_noise"] = bool(assign_noise)
    return params


# -- the steps -----------------------------------------------------------------------
def mean_cosine(vectors: np.ndarray) -> float:
    """The mean cosine over all pairs of unit vectors (self-pairs included): |mean vector|^2."""
    return float(np.square(vectors.mean(axis=0, dtype=np.float64)).sum()) if len(vectors) else 0.0


def centre(vectors: np.ndarray, center: bool | str) -> tuple[np.ndarray, dict]:
    """Subtract the corpus mean and re-normalise, when asked or (``auto``) when the vectors are anisotropic."""
    anisotropy = mean_cosine(vectors)
    apply = anisotropy > ANISOTROPY_THRESHOLD if center == "auto" else bool(center)
    info = {"mean_cosine": round(anisotropy, 4), "centred": apply}
    if not apply or len(vectors) < 2:
        return vectors, {**info, "centred": False}
    shifted = vectors - vectors.mean(axis=0)
    norms = np.linalg.norm(shifted, axis=1, keepdims=True)
    return (shifted / np.maximum(norms, 1e-12)).astype(np.float32), info


def umap_reduce(vectors: np.ndarray, dims: int, seed: int, min_dist: float = 0.0) -> np.ndarray:
    """UMAP (cosine, 15 neighbours), seeded: reproducible, and single-threaded because of it.

    A tiny corpus gets fewer neighbours, at most half of it: with 15 of 17 other points
    every neighbourhood spans the whole corpus and groups of six merge (18 documents in
    three topics came out as two clusters with umap-learn 0.5.12).
    """
    import umap

    n = len(vectors)
    neighbours = min(UMAP_NEIGHBOURS, max(2, (n - 1) // 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", spectral-init fallbacks
        reducer = umap.UMAP(
            n_components=dims, n_neighbors=neighbours, min_dist=min_dist, metric="cosine",
            random_state=seed, init="spectral" if n > dims + 10 else "random",
        )
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)


def pca_reduce(vectors: np.ndarray, dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    dims = min(dims, len(vectors), vectors.shape[1])
    return PCA(n_components=dims, random_state=seed).fit_transform(vectors).astype(np.float32)


def reduce_vectors(vectors: np.ndarray, spec: str, seed: int) -> np.ndarray:
    kind, _, dims = spec.partition(":")
    if kind == "umap":
        return umap_reduce(vectors, int(dims), seed)
    if kind == "pca":
        return pca_reduce(vectors, int(dims), seed)
    return vectors


def kmeans(vectors: np.ndarray, k: int, seed: int, redos: int = KMEANS_REDOS) -> tuple[np.ndarray, np.ndarray]:
    """FAISS K-means, spherical (cosine) on unit vectors: ``(labels, centroids)``.

    Trains on every point up to ``KMEANS_TRAIN_POINTS`` (a seeded sample beyond),
    keeps the best of ``redos`` seeded restarts, then assigns every point.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n, d = x.shape
    spherical = bool(np.allclose(np.linalg.norm(x[: min(n, 1000)], axis=1), 1.0, atol=1e-3))
    model = faiss.Kmeans(
        d, k, niter=KMEANS_ITERATIONS, nredo=redos, spherical=spherical, seed=seed, verbose=False,
        min_points_per_centroid=1, max_points_per_centroid=max(1, math.ceil(KMEANS_TRAIN_POINTS / k)),
    )
    model.train(x)
    _, assigned = model.index.search(x, 1)
    return assigned[:, 0].astype(np.int64), model.centroids


def choose_k(
    vectors: np.ndarray, k_max: int, seed: int, metric: str = "cosine", show_progress: bool = False
) -> tuple[int, dict[int, float]]:
    """The k in 2..k_max with the best silhouette on a seeded sample: ``(k, {k: score})``."""
    from sklearn.metrics import silhouette_score
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    n = len(vectors)
    sample = np.sort(rng.choice(n, SILHOUETTE_SAMPLE, replace=False)) if n > SILHOUETTE_SAMPLE else np.arange(n)
    scores: dict[int, float] = {}
    for k in tqdm(range(2, k_max + 1), desc="Choosing k", disable=not show_progress, dynamic_ncols=True):
        labels, _ = kmeans(vectors, k, seed, redos=1)
        picked = labels[sample]
        if len(np.unique(picked)) < 2 or len(np.unique(picked)) >= len(sample):
            continue
        scores[k] = round(float(silhouette_score(vectors[sample], picked, metric=metric)), 4)
    if not scores:
        raise SemsearchError("no k could be scored: the documents' vectors are all alike")
    best = max(scores, key=lambda key: (scores[key], -key))
    return best, scores


def k_distances(x: np.ndarray, min_samples: int, metric: str) -> np.ndarray:
    """Each point's distance to its ``min_samples``-th neighbour (itself counted), sorted."""
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=min(min_samples, len(x)), metric=metric).fit(x)
    distances, _ = neighbours.kneighbors(x)
    return np.sort(distances[:, -1])


def knee(curve: np.ndarray) -> int:
    """Index of the knee of a sorted increasing curve: farthest below the chord from end to end."""
    n = len(curve)
    if n < 3 or curve[-1] <= curve[0]:
        return n - 1
    xs = np.linspace(0.0, 1.0, n)
    ys = (curve - curve[0]) / (curve[-1] - curve[0])
    return int(np.argmax(xs - ys))


def auto_eps(x: np.ndarray, min_samples: int, metric: str) -> tuple[float, dict]:
    """DBSCAN's eps from the k-distance curve: the distance at its knee.

    The curve is cut at its 99th percentile first, so that a handful of far
    outliers cannot flatten it and push the knee down.
    """
    curve = k_distances(x, min_samples, metric)
    top = max(3, int(math.ceil(len(curve) * 0.99)))
    at = knee(curve[:top])
    eps = float(curve[at])
    if eps <= 0:
        positive = curve[curve > 0]
        eps = float(positive[0]) if len(positive) else 1e-6
    return eps, {"eps_chosen": round(eps, 6), "eps_knee_percentile": round(100 * at / max(len(curve) - 1, 1), 1)}


def dbscan(x: np.ndarray, eps: float, min_samples: int, metric: str) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=eps, min_samples=min_samples, metric=metric).fit_predict(x).astype(np.int64)


def hdbscan_labels(x: np.ndarray, min_cluster_size: int, min_samples: int | None) -> np.ndarray:
    import hdbscan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, core_dist_n_jobs=1)
        return model.fit_predict(np.asarray(x, dtype=np.float64)).astype(np.int64)


def centroids_of(vectors: np.ndarray, labels: np.ndarray) -> dict[int, np.ndarray]:
    """Each cluster's mean vector, re-normalised (noise excluded)."""
    found = {}
    for label in np.unique(labels):
        if label == NOISE:
            continue
        found[int(label)] = normalised_mean(vectors[labels == label])
    return found


def assign_noise(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Noise points moved to the cluster whose centroid is nearest (cosine)."""
    centroids = centroids_of(vectors, labels)
    noise = labels == NOISE
    if not centroids or not noise.any():
        return labels
    keys = np.array(list(centroids))
    matrix = np.stack([centroids[k] for k in keys])
    out = labels.copy()
    out[noise] = keys[np.argmax(vectors[noise] @ matrix.T, axis=1)]
    return out


def renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Clusters relabelled 0, 1, ... from largest to smallest (ties by first member); noise stays -1."""
    out = np.full_like(labels, NOISE)
    found = [label for label in np.unique(labels) if label != NOISE]
    first = {label: int(np.argmax(labels == label)) for label in found}
    order = sorted(found, key=lambda label: (-int((labels == label).sum()), first[label]))
    for new, old in enumerate(order):
        out[labels == old] = new
    return out


def describe(
    vectors: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[str],
    texts: Sequence[str],
    top_keywords: int = TOP_KEYWORDS,
    representatives: int = REPRESENTATIVES,
    analyzer=None,
) -> list[Cluster]:
    """Keywords (class-based TF-IDF, noise as a class of its own) and central documents per cluster.

    ``analyzer`` (:mod:`semsearch.text`) says what a word is; default English.
    """
    classes: dict[int, list[str]] = {}
    for label, text in zip(labels.tolist(), texts):
        classes.setdefault(int(label), []).append(html.unescape(text))  # "&lt;b&gt;" is no keyword "lt"
    ranked = class_tfidf(classes, top_n=2 * top_keywords, max_words=2, analyzer=analyzer)
    # A term near the top of many clusters at once ("said", "reuters" in news) labels none of them:
    # one in the top lists of a quarter of the clusters or more, and of three at least, is dropped.
    seen = Counter(term for terms in ranked.values() for term, _ in terms[:top_keywords])
    generic = {term for term, count in seen.items() if count >= max(3, len(ranked) / 4)}
    terms = {label: [t for t in terms if t[0] not in generic][:top_keywords] for label, terms in ranked.items()}
    centroids = centroids_of(vectors, labels)
    clusters = []
    for label in sorted(classes, key=lambda value: (value == NOISE, value)):
        members = np.flatnonzero(labels == label)
        central: list[str] = []
        if label != NOISE:
            similarity = vectors[members] @ centroids[label]
            order = np.lexsort((members, -similarity))[:representatives]
            central = [ids[i] for i in members[order]]
        clusters.append(Cluster(label, len(members), [term for term, _ in terms[label]], central))
    return clusters


@dataclass
class Computed:
    labels: np.ndarray
    params: dict
    details: dict
    vectors: np.ndarray  # the vectors clustered (centred if they were), before any reduction


def compute(
    vectors: np.ndarray, method: str, params: dict, show_progress: bool = False, cache: dict | None = None,
    k_vectors: np.ndarray | None = None,
) -> Computed:
    """Run one checked parameter set (from :func:`check_params`) over unit document vectors.

    ``cache``, if given, keeps the last reduction (by spec, seed and ``params["vectors"]``)
    for the next call on the same vectors: trying several density parameters pays for UMAP
    once.  ``k_vectors``: what ``k="auto"`` scores silhouettes on, if not ``vectors``
    (hybrid runs choose k on the model's vectors: the words' vectors hold many small tight
    groups, near-identical stories, and their silhouette keeps rising with k: AG News,
    k_max 20, picked 20, V 0.38; on the model's it picks 3, V 0.55).
    """
    params = dict(params)
    seconds: dict[str, float] = {}
    seed = params["seed"]
    vectors, details = centre(vectors, params.get("center", "auto"))
    if details["centred"]:
        log.info("centred the vectors first (their mean cosine is %.2f)", details["mean_cosine"])
    x = vectors
    if params["reduce"] != "none":
        started = time.perf_counter()
        key = (params["reduce"], seed, details["centred"], params.get("vectors"))
        if cache is not None and key in cache:
            x = cache[key]
            details["reduction_reused"] = True
        else:
            kind, _, dims = params["reduce"].partition(":")
            log.info("reducing %d vectors to %s dimensions with %s ...", len(vectors), dims, kind.upper())
            x = reduce_vectors(vectors, params["reduce"], seed)
            log.info("reduced in %.1fs", time.perf_counter() - started)
            if cache is not None:
                cache.clear()
                cache[key] = x
        seconds["reduce"] = time.perf_counter() - started
    started = time.perf_counter()
    if method == "kmeans":
        if params["k"] == "auto":
            metric = "cosine" if params["reduce"] == "none" else "euclidean"
            log.info("choosing k in 2..%d by silhouette (%s) on a sample ...", params["k_max"], metric)
            if k_vectors is not None and params["reduce"] == "none":
                scored, _ = centre(k_vectors, params.get("center", "auto"))
            else:
                scored = x
            k, scores = choose_k(scored, params["k_max"], seed, metric=metric, show_progress=show_progress)
            details["k_scores"] = {str(key): value for key, value in scores.items()}
            details["k_criterion"] = (
                f"best silhouette ({metric}) of K-means for k in 2..{params['k_max']}, "
                f"on a seeded sample of up to {SILHOUETTE_SAMPLE} documents"
            )
            log.info("silhouette by k: %s -> k=%d", ", ".join(f"{key}: {v:.3f}" for key, v in scores.items()), k)
            params["k"] = k
            del params["k_max"]
        labels, _ = kmeans(x, params["k"], seed)
    elif method == "dbscan":
        if params["eps"] == "auto":
            eps, found = auto_eps(x, params["min_samples"], params["metric"])
            details.update(found)
            log.info("eps=auto: %.4g, the knee of the %d-distance curve (at its %.1f%% point)",
                     eps, params["min_samples"], found["eps_knee_percentile"])
            params["eps"] = round(eps, 6)
            params["eps_auto"] = True
        labels = dbscan(x, params["eps"], params["min_samples"], params["metric"])
    else:
        labels = hdbscan_labels(x, params["min_cluster_size"], params["min_samples"])
    seconds["cluster"] = time.perf_counter() - started
    log.info("%s done in %.1fs", method, seconds["cluster"])
    if method != "kmeans":
        details["noise_before_assignment"] = round(float((labels == NOISE).mean()), 4)
        if params["assign_noise"]:
            labels = assign_noise(vectors, labels)
    details["seconds"] = {key: round(value, 3) for key, value in seconds.items()}
    return Computed(renumber_by_size(labels), params, details, vectors)
