"""The embeddings database as one object: :class:`Index` hides SQLite and FAISS.

>>> from semsearch import Index
>>> idx = Index.open("my-index")                 # creates it if missing
>>> idx.add(["text one", "text two"], ids=["a", "b"])
>>> idx.search("query", k=5)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import keywords as kw
from .chunking import check_chunking, chunk_text, default_overlap
from .clustering import (
    DEFAULT_SEED,
    PROJECTIONS,
    Cluster,
    Clustering,
    check_params,
    check_plot_path,
    compute,
    describe,
)
from .docvectors import DEFAULT_DOCUMENT_VECTOR, check_document_vector
from .docvectors import document_vector as vector_of_chunks
from .embedding import (
    Embedder,
    LayerRecipe,
    check_query_backend,
    parse_layers,
    resolve_model_path,
    resolve_precision,
)
from .errors import SemsearchError
from .indexing import METRICS, VectorIndex
from .locking import WriterLock, is_locked
from .reading import Document, Skipped
from .searching import FUSION_DEPTH, MODES, ChunkMap, Hit, Ranked, dense_rank, fuse, keyword_rank, to_hits
from .storing import ClusterFilter, Store, now

log = logging.getLogger("semsearch")

DEFAULT_INDEX_DIR = ".semsearch"
INDEX_ENV_VAR = "SEMSEARCH_INDEX"
DB_FILE = "index.db"
FAISS_FILE = "vectors.faiss"
LOCK_FILE = "write.lock"
# Chunks embedded and committed together: bounds memory, and is the unit of work
# an interrupted run can lose.
COMMIT_CHUNKS = 256
# Keyword extraction over many documents: documents whose candidate phrases are embedded
# together (shared phrases once, in big batches of short texts), and that batch size.
KEYWORD_GROUP = 64
PHRASE_BATCH = 256
TOPIC_METHODS = ("lda",)

Filters = Mapping[str, object] | Sequence[tuple[str, object]] | None
# A cluster of a stored clustering run: "NAME:LABEL" or (name, label).
ClusterRef = str | tuple[str, int] | None


def default_index_path() -> Path:
    """``$SEMSEARCH_INDEX``, else ``.semsearch`` in the current directory."""
    return Path(os.environ.get(INDEX_ENV_VAR) or DEFAULT_INDEX_DIR)


def content_hash(doc: Document) -> str:
    payload = json.dumps([doc.text, doc.title, doc.metadata], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_run_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise SemsearchError(f"bad clustering name {name!r}: it must be non-empty, without surrounding spaces")
    if ":" in name:
        raise SemsearchError(f"bad clustering name {name!r}: ':' separates a name from a cluster in NAME:LABEL")


def _normalise_filters(where: Filters) -> list[tuple[str, str]]:
    if not where:
        return []
    pairs = where.items() if isinstance(where, Mapping) else where
    return [(str(k), str(v).lower() if isinstance(v, bool) else str(v)) for k, v in pairs]


@dataclass
class AddReport:
    """What an ``add`` did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    embedding_seconds: float = 0.0  # of ``seconds``, the time inside the model; the rest is overhead

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "chunks": self.chunks, "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3), "embedding_seconds": round(self.embedding_seconds, 3),
        }


class Index:
    """A directory holding a SQLite record (``index.db``) and a FAISS index (``vectors.faiss``)."""

    def __init__(
        self, path: Path, store: Store, embedder: Embedder | None = None, query_backend: str = "onnx"
    ) -> None:
        self.path = path
        self.store = store
        self.settings = store.settings()
        self._embedder = embedder
        self.query_backend = query_backend
        self._vectors: VectorIndex | None = None
        self._vectors_generation = -1
        self._chunk_map_cache: tuple[int, ChunkMap] | None = None
        self._lock = WriterLock(path / LOCK_FILE)
        # The last UMAP/PCA reduction of the document vectors, for the generation it was made at.
        self._reductions: dict = {}
        self._reductions_generation = -1

    # -- opening --------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike | None = None,
        *,
        model: str | os.PathLike | None = None,
        layers: str | None = None,
        pooling: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        precision: str | None = None,
        create: bool = True,
        query_backend: str = "onnx",
        document_vector: str | None = None,
    ) -> Index:
        """Open the index at ``path``, creating it (with these settings) if missing.

        On an existing index the settings are read from it; passing a model,
        layers, pooling or chunking that differ from the stored ones is an error.

        ``query_backend``: ``"onnx"`` (the default) embeds single queries with ONNX
        Runtime, about twice as fast as PyTorch once its session is up (0.3 s, plus a
        one-off export of ~2 s per model, cached); ``"torch"`` suits a process that
        runs one query and exits.  See :meth:`Embedder.encode_queries`.

        ``document_vector`` (``lead``, the default; ``mean``; ``first``): how one vector
        per document is made from its chunks, for clustering, ``similar`` and keyword
        ``embed`` (see :mod:`semsearch.docvectors`); stored like the other settings.
        """
        if document_vector is not None:
            check_document_vector(document_vector)
        check_query_backend(query_backend)  # now: the embedder that would check it loads lazily
        path = Path(path) if path is not None else default_index_path()
        db_path = path / DB_FILE
        if not db_path.exists():
            if not create:
                raise SemsearchError(f"no index at {path}: create one with `semsearch index -i {path} FILES...`")
            if path.exists() and not path.is_dir():
                raise SemsearchError(f"{path} exists and is not a directory")
            path.mkdir(parents=True, exist_ok=True)
            with WriterLock(path / LOCK_FILE):
                if not db_path.exists():
                    embedder = Embedder(model, layers=layers, pooling=pooling, precision=precision,
                                        query_backend=query_backend)
                    size = chunk_size or embedder.max_length - 2  # room for [CLS] and [SEP]
                    overlap = default_overlap(size) if chunk_overlap is None else chunk_overlap
                    check_chunking(size, overlap)
                    if size > embedder.max_length - 2:
                        raise SemsearchError(
                            f"chunk size {size} exceeds the model's limit of {embedder.max_length - 2} tokens"
                        )
                    store = Store.create(
                        db_path, {**embedder.settings(), "chunk_size": size, "chunk_overlap": overlap,
                                  "document_vector": document_vector or DEFAULT_DOCUMENT_VECTOR}
                    )
                    return cls(path, store, embedder, query_backend)
        index = cls(path, Store.open(db_path), query_backend=query_backend)
        index._check_requested(model, layers, pooling, chunk_size, chunk_overlap, precision)
        if document_vector is not None and document_vector != index.document_vector:
            raise SemsearchError(f"the index at {path} makes document vectors by {index.document_vector!r}, "
                                 f"not {document_vector!r}; leave the option out or index into a new directory")
        return index

    def _check_requested(self, model, layers, pooling, chunk_size, chunk_overlap, precision=None) -> None:
        """Refuse settings that differ from the index's: they would silently mismatch its vectors."""
        stored = self.settings
        conflicts = []
        if model is not None and resolve_model_path(model)[0] != stored["model"]:
            conflicts.append(f"model {model} (index: {stored['model']})")
        if layers is not None and str(layers).lower() != stored["layers"]:
            requested = "auto" if str(layers).lower() == "auto" else list(parse_layers(layers, stored["num_layers"]))
            if requested != stored["layer_indices"]:
                conflicts.append(f"layers {layers} (index: {stored['layers']} = {stored['layer_indices']})")
        if pooling is not None and pooling != stored["pooling"]:
            conflicts.append(f"pooling {pooling} (index: {stored['pooling']})")
        if chunk_size is not None and chunk_size != stored["chunk_size"]:
            conflicts.append(f"chunk size {chunk_size} (index: {stored['chunk_size']})")
        if chunk_overlap is not None and chunk_overlap != stored["chunk_overlap"]:
            conflicts.append(f"chunk overlap {chunk_overlap} (index: {stored['chunk_overlap']})")
        if precision is not None and resolve_precision(precision) != stored.get("precision", "fp32"):
            conflicts.append(f"precision {precision} (index: {stored.get('precision', 'fp32')})")
        if conflicts:
            raise SemsearchError(
                f"the index at {self.path} was built with other settings: asked for "
                + "; ".join(conflicts)
                + ". Leave these options out to use the index's own, or index into a new directory."
            )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def document_vector(self) -> str:
        """How a document's one vector is made from its chunks (``semsearch.docvectors``)."""
        return self.settings.get("document_vector", DEFAULT_DOCUMENT_VECTOR)

    # -- the pieces, loaded on first use ----------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedder the index was built with, exactly as recorded in it."""
        if self._embedder is None:
            s = self.settings
            embedder = Embedder(
                s["model"], layers="all", pooling=s["pooling"], max_length=s["max_length"],
                precision=s.get("precision", "fp32"),  # indexes from before bf16 were fp32
                query_backend=self.query_backend,
            )
            if embedder.dimension != s["dimension"] or embedder.num_layers != s["num_layers"]:
                raise SemsearchError(
                    f"the model at {s['model']} has changed since the index was built "
                    f"({embedder.num_layers} layers x {embedder.dimension} dims, index: "
                    f"{s['num_layers']} x {s['dimension']})"
                )
            embedder.recipe = LayerRecipe(s["layers"], tuple(s["layer_indices"]), s["pooling"], s["layers_reason"])
            self._embedder = embedder
        return self._embedder

    @property
    def vectors(self) -> VectorIndex:
        """The FAISS index, reloaded when the database has moved on, rebuilt when stale."""
        generation = self.store.generation()
        if self._vectors is not None and self._vectors_generation == generation:
            return self._vectors
        dimension = self.settings["dimension"]
        faiss_path = self.path / FAISS_FILE
        faiss_generation = json.loads(
            self.store.conn.execute("SELECT value FROM settings WHERE key = 'faiss_generation'").fetchone()[0]
        )
        chunks = self.store.counts()["chunks"]
        problem = None
        if not faiss_path.exists():
            problem = "the FAISS file is missing" if chunks else None
        elif faiss_generation != generation:
            problem = "the FAISS file is behind the database"
        else:
            try:
                loaded = VectorIndex.load(faiss_path, dimension)
            except ValueError as exc:
                problem = f"the FAISS file is corrupt ({exc})"
            else:
                if loaded.size == chunks:
                    self._vectors, self._vectors_generation = loaded, generation
                    return loaded
                problem = f"the FAISS file holds {loaded.size} vectors, the database {chunks}"
        self._vectors, self._vectors_generation = self._rebuild_vectors(problem)
        return self._vectors

    def _rebuild_vectors(self, problem: str | None) -> tuple[VectorIndex, int]:
        started = time.perf_counter()
        conn = self.store.conn
        conn.execute("BEGIN")  # one consistent snapshot while a writer may be committing
        try:
            generation = self.store.generation()
            vectors = VectorIndex.build(self.settings["dimension"], self.store.iter_vectors(self.settings["dimension"]))
        finally:
            conn.execute("COMMIT")
        if problem:
            log.warning(
                "%s: rebuilt it from %d stored vectors in %.1fs", problem, vectors.size, time.perf_counter() - started
            )
        # Persist the repair unless another process is writing (it will save its own).
        if self._lock.held:
            self._save_vectors(vectors, generation)
        elif not is_locked(self.path / LOCK_FILE):
            try:
                with self._lock:
                    if self.store.generation() == generation:
                        self._save_vectors(vectors, generation)
            except SemsearchError:
                pass
        return vectors, generation

    def _save_vectors(self, vectors: VectorIndex, generation: int) -> None:
        vectors.save(self.path / FAISS_FILE)
        with self.store.transaction(bump=False):
            self.store.set_setting("faiss_generation", generation)

    @contextmanager
    def _writing(self) -> Iterator[VectorIndex]:
        """Hold the writer lock; save the FAISS file once at the end, whatever happens."""
        if self._lock.held:
            raise SemsearchError("this index is already being written by this process")
        with self._lock:
            if self._lock.stale_pid:
                log.warning("took over a stale lock left by process %d", self._lock.stale_pid)
            vectors = self.vectors
            start_generation = self._vectors_generation
            try:
                yield vectors
            finally:
                if self._vectors_generation != start_generation:
                    self._save_vectors(vectors, self._vectors_generation)

    # -- writing --------------------------------------------------------------
    def add(
        self,
        texts: Sequence[str],
        *,
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict] | None = None,
        titles: Sequence[str | None] | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
    ) -> AddReport:
        """Add or update texts.  Ids default to a hash of the text, so re-adding is a no-op."""
        if isinstance(texts, str):
            raise TypeError("add() takes a list of texts")
        n = len(texts)
        for name, values in (("ids", ids), ("metadata", metadata), ("titles", titles)):
            if values is not None and len(values) != n:
                raise SemsearchError(f"{len(values)} {name} for {n} texts")
        documents = (
            Document(
                id=str(ids[i]) if ids is not None else hashlib.sha256(texts[i].encode()).hexdigest()[:16],
                text=texts[i],
                title=titles[i] if titles is not None else None,
                metadata=dict(metadata[i]) if metadata is not None else {},
            )
            for i in range(n)
        )
        return self.add_documents(documents, batch_size=batch_size, show_progress=show_progress)

    def add_documents(
        self,
        documents: Iterable[Document | Skipped],
        *,
        batch_size: int = 32,
        show_progress: bool = False,
        on_skip: Callable[[Skipped], None] | None = None,
    ) -> AddReport:
        """Chunk, embed and store documents (as from :func:`semsearch.reading.read_inputs`).

        Unchanged documents (same content hash) are skipped; changed ones replace
        their old chunks.  Work is committed every few hundred chunks, so an
        interrupted run keeps everything it reported and can simply be re-run.
        """
        from tqdm.auto import tqdm

        report = AddReport()
        embedder = self.embedder  # loading the model is not part of the work reported
        started = time.perf_counter()
        size, overlap = self.settings["chunk_size"], self.settings["chunk_overlap"]
        pending: list[tuple[Document, str, int | None, list]] = []
        progress = tqdm(unit="doc", desc="Indexing", disable=not show_progress, dynamic_ncols=True)

        def skip(item: Skipped) -> None:
            report.skipped.append(item)
            if on_skip:
                on_skip(item)

        def flush(vectors: VectorIndex) -> None:
            if not pending:
                return
            texts = [chunk.text for _, _, _, chunks in pending for chunk in chunks]
            embedding_started = time.perf_counter()
            embedded = embedder.encode(texts, batch_size=batch_size)
            report.embedding_seconds += time.perf_counter() - embedding_started
            removed: list[int] = []
            new_ids: list[int] = []
            offset = 0
            with self.store.transaction():
                for doc, digest, old_pk, chunks in pending:
                    added_at = None
                    if old_pk is not None:
                        added_at = self.store.added_at(old_pk)
                        removed.extend(self.store.delete_documents([old_pk]))
                    new_ids.extend(self.store.insert_document(
                        doc.id, text=doc.text, title=doc.title, source=doc.source, metadata=doc.metadata,
                        content_hash=digest, chunks=chunks, vectors=embedded[offset : offset + len(chunks)],
                        added=added_at,
                    ))
                    offset += len(chunks)
            vectors.remove(removed)
            vectors.add(np.array(new_ids, dtype=np.int64), embedded)
            self._vectors_generation = self.store.generation()
            for _, _, old_pk, chunks in pending:
                report.chunks += len(chunks)
                if old_pk is None:
                    report.added += 1
                else:
                    report.updated += 1
            progress.update(len(pending))
            elapsed = time.perf_counter() - started
            progress.set_postfix(chunks=report.chunks, chunks_per_s=f"{report.chunks / max(elapsed, 1e-9):.1f}")
            pending.clear()

        try:
            with self._writing() as vectors:
                pending_ids: set[str] = set()
                pending_chunks = 0
                for item in documents:
                    if isinstance(item, Skipped):
                        skip(item)
                        continue
                    if not item.text or not item.text.strip():
                        skip(Skipped(item.source or item.id, "empty text"))
                        continue
                    if item.id in pending_ids:  # the same id twice in one run: the later one wins
                        flush(vectors)
                        pending_ids.clear()
                        pending_chunks = 0
                    digest = content_hash(item)
                    found = self.store.find(item.id)
                    if found is not None and found[1] == digest:
                        report.unchanged += 1
                        progress.update(1)
                        continue
                    chunks = chunk_text(item.text, embedder.tokenizer, size, overlap)
                    pending.append((item, digest, found[0] if found else None, chunks))
                    pending_ids.add(item.id)
                    pending_chunks += len(chunks)
                    if pending_chunks >= COMMIT_CHUNKS:
                        flush(vectors)
                        pending_ids.clear()
                        pending_chunks = 0
                flush(vectors)
        finally:
            progress.close()
            report.seconds = time.perf_counter() - started
        return report

    def remove(self, ids: Iterable[str]) -> list[str]:
        """Delete documents by id; returns the ids that were found and removed."""
        ids = list(dict.fromkeys(str(i) for i in ids))
        with self._writing() as vectors:
            found = self.store.document_pks(ids)
            if not found:
                return []
            with self.store.transaction():
                chunk_ids = self.store.delete_documents(found.values())
            vectors.remove(chunk_ids)
            self._vectors_generation = self.store.generation()
        return [i for i in ids if i in found]

    def remove_missing(self) -> list[str]:
        """Delete documents whose source file no longer exists; returns their ids."""
        gone = [doc_id for _, doc_id, source in self.store.sources() if not Path(source).exists()]
        return self.remove(gone) if gone else []

    # -- reading --------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        mode: str = "hybrid",
        where: Filters = None,
        min_score: float | None = None,
        metric: str = "cosine",
        cluster: ClusterRef = None,
    ) -> list[Hit]:
        """Rank documents for ``query``; see :meth:`search_many`."""
        return self.search_many(
            [query], k, mode=mode, where=where, min_score=min_score, metric=metric, cluster=cluster
        )[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        mode: str = "hybrid",
        where: Filters = None,
        min_score: float | None = None,
        metric: str = "cosine",
        batch_size: int = 32,
        cluster: ClusterRef = None,
    ) -> list[list[Hit]]:
        """Rank documents for each query (embedded together in one pass).

        ``mode``: ``dense`` (cosine over vectors), ``keyword`` (BM25) or ``hybrid``
        (reciprocal-rank fusion of both).  ``where`` filters on metadata (and ``id``,
        ``title``, ``source``) before ranking, and so does ``cluster`` (``"NAME:LABEL"``
        or ``(name, label)``: only the documents a stored clustering put in that
        cluster).  ``metric`` applies to the dense side.
        """
        if mode not in MODES:
            raise SemsearchError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if metric not in METRICS:
            raise SemsearchError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if k < 1:
            raise SemsearchError(f"k must be at least 1, not {k}")
        filters = [*_normalise_filters(where), *self._cluster_filter(cluster)]
        queries = list(queries)
        depth = max(k, FUSION_DEPTH) if mode == "hybrid" else k
        dense: list[list[Ranked]] = [[] for _ in queries]
        if mode in ("dense", "hybrid"):
            dense = self._dense(self.embedder.encode_queries(queries, batch_size=batch_size), depth, filters, metric)
        results = []
        for i, query in enumerate(queries):
            if mode == "dense":
                ranked = dense[i]
            else:
                keyword = keyword_rank(self.store, query, depth, filters)
                ranked = keyword[:k] if mode == "keyword" else fuse([dense[i], keyword], k)
            if min_score is not None:
                ranked = [r for r in ranked if r.score >= min_score]
            results.append(to_hits(self.store, ranked, query))
        return results

    def _dense(self, query_vectors, k, filters, metric, exclude: Sequence[str] = ()) -> list[list[Ranked]]:
        vectors, chunk_map = self.vectors, self._chunk_map()
        allowed = self.store.filtered_chunk_ids(filters) if filters else None
        return dense_rank(vectors, chunk_map, query_vectors, k, allowed=allowed, metric=metric, exclude=exclude)

    def _chunk_map(self) -> ChunkMap:
        generation = self.store.generation()
        if self._chunk_map_cache is None or self._chunk_map_cache[0] != generation:
            self._chunk_map_cache = (generation, ChunkMap(*self.store.chunk_document_map()))
        return self._chunk_map_cache[1]

    def similar(
        self, doc_id: str, k: int = 10, *, where: Filters = None, metric: str = "cosine", cluster: ClusterRef = None
    ) -> list[Hit]:
        """Documents most like a stored one (by its mean chunk vector), itself excluded."""
        found = self.store.find(doc_id)
        if found is None:
            raise SemsearchError(f"no document {doc_id!r} in the index")
        vector = self.store.document_vector(found[0], self.settings["dimension"], self.document_vector)
        filters = [*_normalise_filters(where), *self._cluster_filter(cluster)]
        return to_hits(self.store, self._dense(vector[None, :], k, filters, metric, exclude=[doc_id])[0])

    def _cluster_filter(self, cluster: ClusterRef) -> list[ClusterFilter]:
        if cluster is None:
            return []
        if isinstance(cluster, str):
            name, sep, label = cluster.rpartition(":")
            if not sep or not name:
                raise SemsearchError(f"{cluster!r} is not NAME:LABEL (a clustering name and a cluster number)")
        else:
            name, label = cluster
        try:
            label = int(label)
        except (TypeError, ValueError):
            raise SemsearchError(f"cluster label {label!r} is not a number") from None
        self.clustering(name, with_assignments=False).cluster(label)  # raises for an unknown name or label
        return [ClusterFilter(name, label)]

    def get(self, doc_id: str) -> dict | None:
        """A stored document: id, title, source, text, metadata, chunk count, timestamps."""
        record = self.store.document(doc_id)
        if record:
            record.pop("pk")
        return record

    # -- clustering -----------------------------------------------------------
    def cluster(
        self,
        method: str = "kmeans",
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
        name: str | None = None,
        save: bool = True,
        plot: str | os.PathLike | None = None,
        plot_projection: str = "umap",
        show_progress: bool = False,
    ) -> Clustering:
        """Cluster the documents by their stored vectors; returns (and stores) a :class:`Clustering`.

        ``method``: ``kmeans`` (spherical, FAISS; ``k`` a number or ``"auto"``, the
        best silhouette for k in 2..``k_max``), ``dbscan`` (``eps`` a distance or
        ``"auto"`` from the k-distance knee, ``min_samples``) or ``hdbscan``
        (``min_cluster_size``, ``min_samples``).  ``reduce``: ``"umap:N"`` (the default
        for the density methods, N=5), ``"pca:N"`` or ``"none"`` (the K-means default).
        ``assign_noise`` moves noise points to the nearest cluster centroid.  ``center``
        subtracts the corpus mean first (default ``None``: only when the vectors are
        anisotropic, mean pairwise cosine above 0.3, as an all-layer average is).  The run is
        stored under ``name`` (default: made from the method and its parameters;
        an existing run of that name is replaced) unless ``save=False``.  ``plot``
        writes a PNG map (2-D UMAP, or PCA with ``plot_projection="pca"``).
        """
        if name is not None:
            _check_run_name(name)
        if plot is not None:
            check_plot_path(plot)
            if plot_projection not in PROJECTIONS:
                raise SemsearchError(f"unknown projection {plot_projection!r}: use umap or pca")
        dimension = self.settings["dimension"]
        started = time.perf_counter()
        with self.store.snapshot():
            generation = self.store.generation()
            ids, hashes, texts = self.store.document_table()
            params = check_params(
                method, len(ids), dimension, k=k, k_max=k_max, eps=eps, min_samples=min_samples,
                min_cluster_size=min_cluster_size, reduce=reduce, assign_noise=assign_noise, center=center,
                seed=seed,
            )
            vectors = self.store.document_vectors(dimension, self.document_vector)
        log.info("clustering %d documents with %s ...", len(ids), method)
        if generation != self._reductions_generation:
            self._reductions, self._reductions_generation = {}, generation
        computed = compute(vectors, method, params, show_progress=show_progress, cache=self._reductions)
        labels, vectors = computed.labels, computed.vectors
        clusters = describe(vectors, labels, ids, texts)
        details = {**computed.details, "index_generation": generation}
        details["seconds"]["total"] = round(time.perf_counter() - started, 3)
        result = Clustering(
            method=method, params=computed.params, clusters=clusters,
            assignments=dict(zip(ids, labels.tolist())), created=now(), documents=len(ids), details=details,
        )
        log.info("%d clusters, %.1f%% noise", result.num_clusters, 100 * result.noise_fraction)
        if save:
            result.name = name or self._default_run_name(method, computed.params)
            replaced = self.store.save_clustering(
                result.name, method=method, params=result.params, details=details, created=result.created,
                clusters=[c.to_dict() for c in clusters], assignments=zip(ids, hashes, labels.tolist()),
            )
            result.details["replaced"] = replaced
        elif name is not None:
            result.name = name
        if plot is not None:
            result.plot = self._plot(vectors, labels, clusters, plot, plot_projection, params["seed"],
                                     heading=f"{result.name or method}: {len(ids)} documents")
        return result

    def _default_run_name(self, method: str, params: dict) -> str:
        if method == "kmeans":
            base = f"kmeans-k{params['k']}"
        elif method == "dbscan":
            base = f"dbscan-eps{params['eps']:.3g}"
        else:
            base = f"hdbscan-mcs{params['min_cluster_size']}"
        taken = set(self.store.clustering_names())
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def _plot(self, vectors, labels, clusters: list[Cluster], path, projection: str, seed: int, heading: str) -> dict:
        from .clustering import plot_map, project_2d

        started = time.perf_counter()
        log.info("projecting %d documents to 2-D with %s for the plot ...", len(vectors), projection.upper())
        coords = project_2d(vectors, projection, seed)
        points = plot_map(coords, labels, {c.label: c.title for c in clusters}, path,
                          heading=f"{heading} ({projection.upper()} 2-D)")
        log.info("wrote %s (%d points) in %.1fs", path, points, time.perf_counter() - started)
        return {"path": str(path), "points": points, "projection": projection}

    def clusterings(self) -> list[dict]:
        """Every stored clustering run: name, method, params, created, documents, clusters, noise."""
        runs = self.store.clustering_summaries()
        for run in runs:
            run["noise_fraction"] = round(run["noise"] / run["documents"], 4) if run["documents"] else 0.0
        return runs

    def clustering(self, name: str, label: int | None = None, *, with_assignments: bool = True) -> Clustering:
        """A stored run by name, with ``changes``: documents added, removed, changed since.

        ``label`` keeps one cluster (and its members' assignments) only.
        """
        run = self.store.clustering(name, label=label, assignments=with_assignments)
        if run is None:
            names = self.store.clustering_names()
            raise SemsearchError(
                f"no clustering named {name!r}: "
                + (f"the stored ones are {', '.join(names)}" if names else "this index has none; make one with "
                   "`semsearch cluster`")
            )
        result = Clustering(
            method=run["method"], params=run["params"], clusters=[Cluster(**c) for c in run["clusters"]],
            assignments=run["assignments"], created=run["created"], documents=run["documents"], name=run["name"],
            details=run["details"], changes=self.store.clustering_changes(name) if with_assignments else None,
            only=label,
        )
        if label is not None:
            result.cluster(label)  # raises for a label the run does not have, listing those it has
        return result

    def delete_clustering(self, name: str) -> None:
        """Delete a stored run."""
        with self.store.transaction(bump=False):
            found = self.store.delete_clustering(name)
        if not found:
            self.clustering(name)  # raises: no clustering named ...

    def plot_clustering(self, name: str, path: str | os.PathLike, projection: str = "umap") -> dict:
        """Draw a stored run's map again: its documents still in the index, by their labels then."""
        run = self.clustering(name)
        dimension = self.settings["dimension"]
        with self.store.snapshot():
            ids, _, _ = self.store.document_table()
            vectors = self.store.document_vectors(dimension, self.document_vector)
        keep = [i for i, doc_id in enumerate(ids) if doc_id in run.assignments]
        if not keep:
            raise SemsearchError(f"none of the documents of clustering {name!r} is still in the index")
        labels = np.array([run.assignments[ids[i]] for i in keep], dtype=np.int64)
        return self._plot(vectors[keep], labels, run.clusters, path, projection, int(run.params.get("seed", 0)),
                          heading=f"{name}: {len(keep)} documents")

    # -- keywords and topics ----------------------------------------------------
    @staticmethod
    def _keyword_options(method: str, n: int, diversity: float | None, max_words: int,
                         pool: int | None = None) -> float:
        if method not in kw.METHODS:
            raise SemsearchError(f"unknown keyword method {method!r}: use one of {', '.join(kw.METHODS)}")
        if n < 1:
            raise SemsearchError(f"n must be at least 1, not {n}")
        if not 1 <= max_words <= kw.MAX_WORDS:
            raise SemsearchError(f"max_words must be between 1 and {kw.MAX_WORDS}, not {max_words}")
        if pool is not None and method != "embed":
            raise SemsearchError(f"pool applies to the embed method only, not {method}")
        if pool is not None and pool < 0:
            raise SemsearchError(f"pool must be 0 (every candidate) or more, not {pool}")
        if diversity is None:
            return kw.DEFAULT_DIVERSITY
        if method != "embed":
            raise SemsearchError(f"diversity applies to the embed method only, not {method}")
        if not 0.0 <= diversity <= 1.0:
            raise SemsearchError(f"diversity must be between 0 and 1, not {diversity}")
        return float(diversity)

    def _encode_phrases(self, phrases: list[str]) -> np.ndarray:
        return self.embedder.encode(phrases, batch_size=PHRASE_BATCH)

    def _text_vector(self, text: str) -> np.ndarray:
        """A text's vector as the index would store it: the mean of its chunks' vectors, re-normalised."""
        chunks = chunk_text(text, self.embedder.tokenizer, self.settings["chunk_size"], self.settings["chunk_overlap"])
        return vector_of_chunks(self.embedder.encode([c.text for c in chunks] or [text]), self.document_vector)

    def _extract(self, text: str, pk: int | None, method: str, n: int, diversity: float, max_words: int,
                 encode: Callable[[list[str]], np.ndarray] | None = None,
                 documents: int | None = None, pool: int | None = None) -> list[kw.Keyword]:
        if method == "textrank":
            return kw.textrank(text, n, max_words=max_words)
        if method == "tfidf":
            if documents is None:
                documents = self.store.counts()["documents"]
            terms = kw.document_terms(text)
            df = self.store.document_frequencies(terms)
            if pk is None:  # a text from outside counts as one more document
                return kw.tfidf(text, {t: df.get(t, 0) + 1 for t in terms}, documents + 1, n, max_words=max_words)
            return kw.tfidf(text, df, documents, n, max_words=max_words)
        vector = (self.store.document_vector(pk, self.settings["dimension"], self.document_vector) if pk is not None
                  else self._text_vector(text))
        return kw.embed(text, encode or self._encode_phrases, n, diversity=diversity, document_vector=vector,
                        max_words=max_words, pool=pool)

    def keywords(
        self,
        doc_id: str | None = None,
        *,
        text: str | None = None,
        method: str = "tfidf",
        n: int = 10,
        diversity: float | None = None,
        max_words: int = kw.MAX_WORDS,
        pool: int | None = None,
    ) -> list[kw.Keyword]:
        """Key phrases of a stored document (``doc_id``) or of any ``text``, best first.

        ``method``: ``tfidf`` (document frequencies from the whole index), ``textrank``
        (word graph + PageRank) or ``embed`` (cosine to the document with this index's
        embedder, and MMR; ``diversity`` 0..1, default 0.2; ``pool``: how many of the
        best candidates by TextRank to embed, default max(20, n + 10), 0 = all).
        Returns ``Keyword(phrase, score)`` tuples; see :mod:`semsearch.keywords` for how
        candidates are formed.
        """
        diversity = self._keyword_options(method, n, diversity, max_words, pool)
        if (doc_id is None) == (text is None):
            raise SemsearchError("give a document id or a text (one of them)")
        pk = None
        if doc_id is not None:
            record = self.store.document(doc_id)
            if record is None:
                raise SemsearchError(f"no document {doc_id!r} in the index")
            text, pk = record["text"], record["pk"]
        if not text or not text.strip():
            raise SemsearchError("the text is empty: nothing to extract keywords from")
        return self._extract(text, pk, method, n, diversity, max_words, pool=pool)

    def keywords_many(
        self,
        doc_ids: Sequence[str] | None = None,
        *,
        method: str = "tfidf",
        n: int = 10,
        diversity: float | None = None,
        max_words: int = kw.MAX_WORDS,
        pool: int | None = None,
        show_progress: bool = False,
    ) -> Iterator[tuple[str, list[kw.Keyword]]]:
        """``(doc id, keywords)`` for the given documents (default: all, in the order added).

        The same ranking as :meth:`keywords`, faster over many documents: for ``embed``
        the candidate phrases of a group of documents are embedded together, each
        distinct phrase once.
        """
        from tqdm.auto import tqdm

        diversity = self._keyword_options(method, n, diversity, max_words, pool)
        if doc_ids is None:
            total = self.store.counts()["documents"]
            rows: Iterable[tuple[int, str, str]] = self.store.iter_texts()
        else:
            found = []
            for doc_id in doc_ids:
                record = self.store.document(doc_id)
                if record is None:
                    raise SemsearchError(f"no document {doc_id!r} in the index")
                found.append((record["pk"], record["id"], record["text"]))
            total, rows = len(found), found
        documents = self.store.counts()["documents"]
        cache = kw.PhraseVectors(self._encode_phrases) if method == "embed" else None
        progress = tqdm(total=total, unit="doc", desc="Keywords", disable=not show_progress, dynamic_ncols=True)
        try:
            iterator = iter(rows)
            while True:
                group = [row for _, row in zip(range(KEYWORD_GROUP), iterator)]
                if not group:
                    break
                if cache is not None:
                    cache.prefetch(p for _, _, text in group
                                   for p in kw.embed_pool(text, n, max_words=max_words, pool=pool)[0])
                for pk, doc_id, text in group:
                    yield doc_id, self._extract(text, pk, method, n, diversity, max_words, cache, documents, pool)
                    progress.update(1)
        finally:
            progress.close()

    def topics(
        self,
        method: str = "lda",
        n: int = 10,
        *,
        words: int = 10,
        max_words: int = 1,
        seed: int = 0,
        max_iter: int = 20,
    ) -> list[kw.Topic]:
        """Topics of the whole corpus, largest first: top words, share of the corpus, documents.

        ``lda``: scikit-learn LatentDirichletAllocation with ``n`` topics over the
        documents' word counts (``max_words`` > 1 counts phrases too).  Each topic lists
        the documents it dominates (their largest topic), with the topic's share of each.
        """
        if method not in TOPIC_METHODS:
            raise SemsearchError(f"unknown topic method {method!r}: use one of {', '.join(TOPIC_METHODS)}")
        if n < 1:
            raise SemsearchError(f"n must be at least 1, not {n}")
        if words < 1:
            raise SemsearchError(f"words must be at least 1, not {words}")
        if not 1 <= max_words <= kw.MAX_WORDS:
            raise SemsearchError(f"max_words must be between 1 and {kw.MAX_WORDS}, not {max_words}")
        ids, texts = [], []
        for _, doc_id, text in self.store.iter_texts():
            ids.append(doc_id)
            texts.append(text)
        if not texts:
            raise SemsearchError("the index has no documents")
        try:
            topics, shares = kw.lda_topics(texts, n, top_words=words, max_words=max_words, seed=seed,
                                           max_iter=max_iter)
        except ValueError as exc:
            raise SemsearchError(str(exc)) from None
        dominant = shares.argmax(axis=1)
        for topic in topics:
            members = np.flatnonzero(dominant == topic.topic)
            order = sorted(members, key=lambda i: (-shares[i, topic.topic], ids[i]))
            topic.documents = [(ids[i], float(shares[i, topic.topic])) for i in order]
        return sorted(topics, key=lambda t: (-t.weight, t.topic))

    def info(self) -> dict:
        """Counts, stored settings and sizes on disk."""
        settings = {k: v for k, v in self.settings.items() if k not in ("generation", "faiss_generation", "updated")}
        current = self.store.settings()
        db_bytes = sum(
            p.stat().st_size for p in self.path.glob(DB_FILE + "*") if p.is_file()
        )
        faiss_path = self.path / FAISS_FILE
        return {
            "path": str(self.path.resolve()),
            **self.store.counts(),
            "settings": settings,
            "updated": current.get("updated"),
            "faiss_up_to_date": current["faiss_generation"] == current["generation"],
            "size_bytes": {
                "database": db_bytes,
                "faiss": faiss_path.stat().st_size if faiss_path.exists() else 0,
            },
        }
