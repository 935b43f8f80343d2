"""The embeddings database as one object: :class:`Index` validates and delegates.

>>> from semsearch import Index
>>> idx = Index.open("my-index")                 # creates it if missing
>>> idx.add(["text one", "text two"], ids=["a", "b"])
>>> idx.search("query", k=5)

The parts it delegates to, one module each: :mod:`.settings` (what the index was
built with), :mod:`.storing` (SQLite, the source of truth), :mod:`.vectors` (the
vector backend and its freshness protocol), :mod:`.ingest` (plan, prepare, commit),
:mod:`.searching` (ranking and fusion), :mod:`.clusterings` (stored clustering
runs) and :mod:`.extracting` (key phrases and topics).

Threads: one ``Index`` may be shared by many reading threads and one writing thread.
Each reading thread gets its own SQLite connection and reads inside one snapshot;
writes go through ``self.store`` under the index's writer lock.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import clusterings, ingest
from . import keywords as kw
from .chunking import resolve_chunking
from .clustering import DEFAULT_SEED, Clustering
from .clusterings import ClusterRef
from .embedding import Embedder, check_query_backend, load_tokenizer
from .errors import InvalidArgument, NotFound, SettingsMismatch
from .extracting import TOPIC_METHODS, Extractor
from .ingest import AddReport, Encoder, Executor, LocalExecutor, Progress
from .locking import WriterLock
from .queries import Filters, normalise_filters
from .reading import Document, Skipped
from .searching import FUSION_DEPTH, MODES, ChunkMap, Hit, Ranked, dense_rank, fuse, keyword_rank, to_hits
from .settings import IndexSettings
from .storing import Store
from .topics import Topic
from .vectors import METRICS, VectorBackend
from .vectors import policy as vector_policy
from .vectors.sync import FAISS_FILE, VectorSync

log = logging.getLogger("semsearch")

DEFAULT_INDEX_DIR = ".semsearch"
INDEX_ENV_VAR = "SEMSEARCH_INDEX"
DB_FILE = "index.db"
LOCK_FILE = "write.lock"

__all__ = ["FAISS_FILE", "TOPIC_METHODS", "AddReport", "Index", "default_index_path"]


def default_index_path() -> Path:
    """``$SEMSEARCH_INDEX``, else ``.semsearch`` in the current directory."""
    return Path(os.environ.get(INDEX_ENV_VAR) or DEFAULT_INDEX_DIR)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidArgument(f"k must be a whole number, not {k!r}")
    if k < 1:
        raise InvalidArgument(f"k must be at least 1, not {k}")
    return k


def _check_index_type(index_type: str | None, recall: float | None) -> dict:
    """The settings a new index stores for its vector index (policy and recall target)."""
    policy = "auto" if index_type is None else index_type
    if policy not in vector_policy.POLICIES:
        raise InvalidArgument(f"unknown index type {index_type!r}: use one of {', '.join(vector_policy.POLICIES)}")
    try:
        target = vector_policy.check_recall(vector_policy.DEFAULT_RECALL if recall is None else recall)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(str(exc)) from None
    return {"index_type": vector_policy.choose_kind(policy, 0), "vector_policy": policy, "recall_target": target}


def _check_ids(ids: object, what: str = "ids") -> list[str]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise InvalidArgument(f"{what} must be a list of document ids, not {type(ids).__name__} {ids!r:.60}")
    ids = list(ids)
    for doc_id in ids:
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise InvalidArgument(f"a document id must be text, not {doc_id!r:.60}")
    return [str(i) for i in ids]


class Index:
    """A directory holding a SQLite record (``index.db``) and a vector file (``vectors.faiss``)."""

    def __init__(
        self, path: Path, store: Store, embedder: Embedder | Encoder | None = None, query_backend: str = "onnx"
    ) -> None:
        self.path = path
        self.store = store  # the writing connection; reading threads get their own
        self.settings = IndexSettings.from_stored(store.settings())
        self._embedder = embedder
        self.query_backend = query_backend
        self._lock = WriterLock(path / LOCK_FILE)
        self._sync = VectorSync(path, self.settings, store, self._lock)
        # Approximate backends hold codes only; their exact refine reads floats by id, through
        # this thread's connection (inside the search's snapshot).
        self._sync.fetch = lambda ids: self._reader().vectors_by_id(ids, self.settings.dimension)
        self._local = threading.local()
        self._readers: list[Store] = []
        self._state = threading.Lock()  # guards the caches below and the lazy embedder
        self._chunk_map_cache: tuple[int, ChunkMap] | None = None
        self._cluster_cache: dict = {}  # the last UMAP/PCA reduction, for the generation it was made at

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
        encoder: Encoder | None = None,
        index_type: str | None = None,
        recall: float | None = None,
    ) -> Index:
        """Open the index at ``path``, creating it (with these settings) if missing.

        On an existing index the settings are read from it; passing a model,
        layers, pooling or chunking that differ from the stored ones is an error.

        ``query_backend``: ``"onnx"`` (the default) embeds single queries with ONNX
        Runtime, about twice as fast as PyTorch once its session is up (0.3 s, plus a
        one-off export of ~2 s per model, cached); ``"torch"`` suits a process that
        runs one query and exits.  See :meth:`Embedder.encode_queries`.

        ``encoder``: anything with ``encode(texts, batch_size=...)`` returning unit vectors
        of the index's dimension, used instead of loading the index's model (a remote
        service, a test double); opening an existing index only.

        ``index_type`` (a new index; default ``auto``): ``exact`` always scans every vector;
        ``ivf`` / ``ivfpq`` are approximate (IVF over SQ8 / 4-bit PQ codes, refined exactly,
        with nprobe calibrated at every build to reach ``recall``, recall@10, default 0.95);
        ``auto`` is exact up to 1M chunks, then ``ivf``, then from 10M ``ivfpq``.  Stored once;
        change it with :meth:`reindex`.
        """
        policy = _check_index_type(index_type, recall)
        check_query_backend(query_backend)  # now: the embedder that would check it loads lazily
        path = Path(path) if path is not None else default_index_path()
        db_path = path / DB_FILE
        if not db_path.exists():
            if not create:
                raise NotFound(f"no index at {path}: create one with `semsearch index -i {path} FILES...`")
            if path.exists() and not path.is_dir():
                raise InvalidArgument(f"{path} exists and is not a directory")
            path.mkdir(parents=True, exist_ok=True)
            with WriterLock(path / LOCK_FILE):
                if not db_path.exists():
                    embedder = Embedder(model, layers=layers, pooling=pooling, precision=precision,
                                        query_backend=query_backend)
                    store = Store.create(db_path, {**cls._new_settings(embedder, chunk_size, chunk_overlap),
                                                   **policy})
                    return cls(path, store, embedder, query_backend)
        index = cls(path, Store.open(db_path), encoder, query_backend=query_backend)
        index._check_index_type(index_type, recall)
        index.settings.check_requested(path, model=model, layers=layers, pooling=pooling, chunk_size=chunk_size,
                                       chunk_overlap=chunk_overlap, precision=precision)
        return index

    @staticmethod
    def _new_settings(embedder: Embedder, chunk_size: int | None, chunk_overlap: int | None) -> dict:
        size, overlap = resolve_chunking(embedder.max_length, chunk_size, chunk_overlap)
        return {**embedder.settings(), "chunk_size": size, "chunk_overlap": overlap}

    def _check_index_type(self, index_type: str | None, recall: float | None) -> None:
        """An existing index keeps its vector index type and recall target unless reindexed."""
        asked = []
        if index_type is not None and index_type != self._sync.policy:
            asked.append(f"index type {index_type} (index: {self._sync.policy})")
        if recall is not None and float(recall) != self._sync.recall:
            asked.append(f"recall {recall} (index: {self._sync.recall})")
        if asked:
            raise SettingsMismatch(
                f"the index at {self.path} was built with other settings: asked for {'; '.join(asked)}. "
                f"Change them with `semsearch reindex -i {self.path} --index-type ... --recall ...` "
                "(no re-embedding)."
            )

    def close(self) -> None:
        with self._state:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the pieces, loaded on first use ----------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedder the index was built with, exactly as recorded in it."""
        if self._embedder is None:
            with self._state:
                if self._embedder is None:
                    self._embedder = Embedder.from_settings(self.settings, query_backend=self.query_backend)
        return self._embedder

    def _tokenizer(self):
        loaded = getattr(self._embedder, "tokenizer", None)
        return loaded if loaded is not None else load_tokenizer(self.settings.model)

    def _encode_queries(self, queries: list[str], batch_size: int):
        embedder = self.embedder
        if isinstance(embedder, Embedder):
            return embedder.encode_queries(queries, batch_size=batch_size)
        return embedder.encode(queries, batch_size=batch_size)

    @property
    def vectors(self) -> VectorBackend:
        """The vector backend at the database's current generation (reloaded or rebuilt as needed)."""
        with self._sync.rw.write():
            return self._sync.current(self._reader())

    def _reader(self) -> Store:
        """This thread's reading connection."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store.connect(self.store.path)
            self._local.store = store
            with self._state:
                self._readers.append(store)
        return store

    @contextmanager
    def _reading(self, vectors: bool = True) -> Iterator[tuple[Store, VectorBackend | None]]:
        """A snapshot of this thread's connection, with the vectors at the same generation."""
        store, sync = self._reader(), self._sync
        if not vectors:
            with sync.rw.read(), store.snapshot():
                yield store, None
            return
        for attempt in range(3):
            with sync.rw.read(), store.snapshot():
                # Another process may keep committing: after two refreshes, serve what we have
                # (hits whose chunks are gone from this snapshot are dropped by the chunk map).
                if sync.backend is not None and (sync.generation == store.generation() or attempt == 2):
                    yield store, sync.backend
                    return
            with sync.rw.write():
                sync.current(store)

    def _chunk_map(self, store: Store) -> ChunkMap:
        generation = store.generation()
        with self._state:
            cached = self._chunk_map_cache
        if cached is None or cached[0] != generation:
            cached = (generation, ChunkMap(*store.chunk_document_map()))
            with self._state:
                self._chunk_map_cache = cached
        return cached[1]

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
        vectors=None,
    ) -> AddReport:
        """Add or update texts.  Ids default to a hash of the text, so re-adding is a no-op.

        ``vectors``: one row per text, embedded elsewhere (a GPU box, a data pipeline); each
        text is then stored as one chunk with its row, nothing is embedded, and the rows
        must have the index's dimension (they are normalised to unit length, as ours are).
        """
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise InvalidArgument("add() takes a list of texts")
        n = len(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidArgument(f"text {i} is {type(text).__name__}, not text")
        if ids is not None:
            ids = _check_ids(ids)
        for name, values in (("ids", ids), ("metadata", metadata), ("titles", titles)):
            if values is not None and len(values) != n:
                raise InvalidArgument(f"{len(values)} {name} for {n} texts")
        if metadata is not None and not all(isinstance(m, dict) for m in metadata):
            raise InvalidArgument("metadata must be a list of dicts, one per text")
        documents = (
            Document(
                id=ids[i] if ids is not None else hashlib.sha256(texts[i].encode()).hexdigest()[:16],
                text=texts[i],
                title=titles[i] if titles is not None else None,
                metadata=dict(metadata[i]) if metadata is not None else {},
            )
            for i in range(n)
        )
        executor = None
        if vectors is not None:
            from .precomputed import GivenVectors

            documents = list(documents)
            try:
                executor = GivenVectors([d.id for d in documents], vectors, self.settings.dimension)
            except ValueError as exc:
                raise InvalidArgument(str(exc)) from None
        return self.add_documents(documents, batch_size=batch_size, show_progress=show_progress, executor=executor)

    def add_documents(
        self,
        documents: Iterable[Document | Skipped],
        *,
        batch_size: int = 32,
        show_progress: bool = False,
        on_skip: Callable[[Skipped], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        executor: Executor | None = None,
    ) -> AddReport:
        """Chunk, embed and store documents (as from :func:`semsearch.reading.read_inputs`).

        Unchanged documents (same content hash) are skipped before the model is loaded;
        changed ones replace their old chunks.  Work is committed every few hundred
        chunks, so an interrupted run keeps everything it reported and can simply be
        re-run.  ``executor`` chooses where chunking and embedding run (default: here,
        with this index's embedder); ``on_progress`` is called after every document
        read and every batch committed.
        """
        if show_progress and on_progress is None:
            from .progress import terminal_bar

            with terminal_bar("Indexing", "doc") as update:
                return self.add_documents(
                    documents, batch_size=batch_size, on_skip=on_skip, executor=executor,
                    on_progress=lambda p: update(p.documents, chunks=p.chunks, embedded=p.embedded,
                                                 chunks_per_s=f"{p.chunks_per_second:.1f}"),
                )
        report = AddReport()
        local = executor is None
        started = time.perf_counter()
        seen = embedded = 0

        def tell() -> None:
            if on_progress:
                on_progress(Progress(seen, report.chunks, time.perf_counter() - started, max(embedded, report.chunks)))

        def count_embedded(n: int) -> None:
            nonlocal embedded
            embedded += n
            tell()

        if executor is None:
            executor = LocalExecutor(lambda: self.embedder, self._tokenizer, batch_size)
            executor.on_embedded = count_embedded

        def counted() -> Iterator[Document | Skipped]:
            nonlocal seen
            for item in documents:
                yield item
                seen += 1
                tell()

        def skip(item: Skipped) -> None:
            report.skipped.append(item)
            if on_skip:
                on_skip(item)

        try:
            with self._sync.writing():
                planned = ingest.plan(counted(), self.store, report, skip)
                for prepared in executor.prepare(ingest.batches(planned, self.settings.chunk_size), self.settings):
                    ingest.commit(self.store, self._sync, prepared, report)
                    tell()
        finally:
            report.seconds = time.perf_counter() - started - getattr(executor, "load_seconds", 0.0)
            report.embedding_seconds = getattr(executor, "embedding_seconds", 0.0) if local else 0.0
        return report

    def remove(self, ids: Iterable[str]) -> list[str]:
        """Delete documents by id (a list, never a bare string); returns the ids found and removed."""
        ids = list(dict.fromkeys(_check_ids(ids)))
        with self._sync.writing() as backend:
            found = self.store.document_pks(ids)
            if not found:
                return []
            with self._sync.rw.write():
                with self.store.transaction():
                    chunk_ids = self.store.delete_documents(found.values())
                backend.remove(chunk_ids)
                self._sync.committed(self.store.generation())
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
        exact: bool = False,
    ) -> list[Hit]:
        """Rank documents for ``query``; see :meth:`search_many`."""
        if not isinstance(query, str):
            raise InvalidArgument(f"query must be text, not {type(query).__name__}")
        return self.search_many(
            [query], k, mode=mode, where=where, min_score=min_score, metric=metric, cluster=cluster, exact=exact
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
        exact: bool = False,
    ) -> list[list[Hit]]:
        """Rank documents for each query (embedded together in one pass).

        ``mode``: ``dense`` (cosine over vectors), ``keyword`` (BM25) or ``hybrid``
        (reciprocal-rank fusion of both).  ``where`` filters on metadata (and ``id``,
        ``title``, ``source``) before ranking, and so does ``cluster`` (``"NAME:LABEL"``
        or ``(name, label)``: only the documents a stored clustering put in that
        cluster).  ``metric`` applies to the dense side.  An empty query has no hits.
        ``exact`` scans every stored vector even where the index is approximate.
        """
        if isinstance(queries, (str, bytes)) or not isinstance(queries, Sequence):
            raise InvalidArgument("search_many() takes a list of queries")
        queries = list(queries)
        if not all(isinstance(q, str) for q in queries):
            raise InvalidArgument("every query must be text")
        if mode not in MODES:
            raise InvalidArgument(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        k = _check_k(k)
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float))
                                      or not math.isfinite(min_score)):
            raise InvalidArgument(f"min_score must be a finite number, not {min_score!r}")
        filters = normalise_filters(where)
        depth = max(k, FUSION_DEPTH) if mode == "hybrid" else k
        asked = [i for i, q in enumerate(queries) if q.strip()]
        query_vectors = None
        if mode in ("dense", "hybrid") and asked:
            query_vectors = self._encode_queries([queries[i] for i in asked], batch_size)
        results: list[list[Hit]] = [[] for _ in queries]
        with self._reading(vectors=query_vectors is not None) as (store, backend):
            filters = [*filters, *clusterings.cluster_filter(store, cluster)]
            dense: list[list[Ranked]] = [[] for _ in asked]
            if query_vectors is not None:
                dense = self._dense(store, backend, query_vectors, depth, filters, metric, exact=exact)
            for slot, i in enumerate(asked):
                if mode == "dense":
                    ranked = dense[slot]
                else:
                    keyword = keyword_rank(store, queries[i], depth, filters)
                    ranked = keyword[:k] if mode == "keyword" else fuse([dense[slot], keyword], k)
                if min_score is not None:
                    ranked = [r for r in ranked if r.score >= min_score]
                results[i] = to_hits(store, ranked, queries[i])
        return results

    def _dense(self, store: Store, backend: VectorBackend, query_vectors, k, filters, metric,
               exclude: Sequence[str] = (), exact: bool = False) -> list[list[Ranked]]:
        allowed = store.filtered_chunk_ids(filters) if filters else None
        if backend.kind != "flat" and (exact or metric == "manhattan"):  # L1 does not rank as cosine
            backend = vector_policy.ExactScan(store, self.settings.dimension)
        return dense_rank(backend, self._chunk_map(store), query_vectors, k, allowed=allowed, metric=metric,
                          exclude=exclude)

    def search_vectors(
        self,
        vectors,
        k: int = 10,
        *,
        exact: bool = False,
        where: Filters = None,
        min_score: float | None = None,
        metric: str = "cosine",
        cluster: ClusterRef = None,
    ) -> list[list[Hit]]:
        """Rank documents for each row of ``vectors`` (embedded elsewhere; normalised here), as
        :meth:`search_many` does in ``dense`` mode: one list of hits per row."""
        from .precomputed import unit_rows

        k = _check_k(k)
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        try:
            query_vectors = unit_rows(vectors, self.settings.dimension)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        filters = normalise_filters(where)
        with self._reading() as (store, backend):
            filters = [*filters, *clusterings.cluster_filter(store, cluster)]
            dense = self._dense(store, backend, query_vectors, k, filters, metric, exact=exact) if len(
                query_vectors) else []
            results = []
            for ranked in dense:
                if min_score is not None:
                    ranked = [r for r in ranked if r.score >= min_score]
                results.append(to_hits(store, ranked))
        return results

    def reindex(self, index_type: str | None = None, recall: float | None = None) -> dict:
        """Rebuild the vector index from the stored vectors (no re-embedding), optionally with
        another type (``auto``, ``exact``, ``ivf``, ``ivfpq``) or recall target; returns what
        ``info()["vector_index"]`` shows."""
        sync = self._sync
        chosen = _check_index_type(index_type or sync.policy, sync.recall if recall is None else recall)
        with sync.writing():
            sync.policy, sync.recall = chosen["vector_policy"], chosen["recall_target"]
            with self.store.transaction(bump=False):
                self.store.set_setting("vector_policy", sync.policy)
                self.store.set_setting("recall_target", sync.recall)
            size = self.store.counts()["chunks"]
            from .vectors import backend_class

            with self.store.snapshot():
                rebuilt = sync.build(self.store, backend_class(vector_policy.choose_kind(sync.policy, size)))
            sync.use(rebuilt)
            sync.save(rebuilt, sync.generation)
        return vector_policy.describe(rebuilt, sync.policy, sync.recall)

    def similar(
        self, doc_id: str, k: int = 10, *, where: Filters = None, metric: str = "cosine", cluster: ClusterRef = None
    ) -> list[Hit]:
        """Documents most like a stored one (by its mean chunk vector), itself excluded."""
        if not isinstance(doc_id, str):
            raise InvalidArgument(f"a document id must be text, not {doc_id!r:.60}")
        k = _check_k(k)
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        filters = normalise_filters(where)
        with self._reading() as (store, backend):
            found = store.find(doc_id)
            if found is None:
                raise NotFound(f"no document {doc_id!r} in the index")
            vector = store.document_vector(found[0], self.settings.dimension)
            filters = [*filters, *clusterings.cluster_filter(store, cluster)]
            return to_hits(store, self._dense(store, backend, vector[None, :], k, filters, metric,
                                              exclude=[doc_id])[0])

    def get(self, doc_id: str) -> dict | None:
        """A stored document: id, title, source, text, metadata, chunk count, timestamps."""
        if not isinstance(doc_id, str):
            raise InvalidArgument(f"a document id must be text, not {doc_id!r:.60}")
        with self._reading(vectors=False) as (store, _):
            record = store.document(doc_id)
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
        for option, value in (("k", k), ("k_max", k_max), ("min_samples", min_samples),
                              ("min_cluster_size", min_cluster_size), ("seed", seed)):
            # Whole numbers (or, as the CLI passes them, their text); never 2.5 silently run as 2.
            if isinstance(value, (bool, float)) or (value is not None and not isinstance(value, (int, str))):
                raise InvalidArgument(f"{option} must be a whole number, not {value!r}")
        params = dict(k=k, k_max=k_max, eps=eps, min_samples=min_samples, min_cluster_size=min_cluster_size,
                      reduce=reduce, assign_noise=assign_noise, center=center, seed=seed)
        return clusterings.run(self.store, self.settings.dimension, method, params, name=name, save=save,
                               plot=plot, plot_projection=plot_projection, show_progress=show_progress,
                               cache=self._cluster_cache)

    def clusterings(self) -> list[dict]:
        """Every stored clustering run: name, method, params, created, documents, clusters, noise."""
        with self._reading(vectors=False) as (store, _):
            return clusterings.summaries(store)

    def clustering(self, name: str, label: int | None = None, *, with_assignments: bool = True) -> Clustering:
        """A stored run by name, with ``changes``: documents added, removed, changed since.

        ``label`` keeps one cluster (and its members' assignments) only.
        """
        with self._reading(vectors=False) as (store, _):
            return clusterings.stored(store, name, label, with_assignments=with_assignments)

    def delete_clustering(self, name: str) -> None:
        """Delete a stored run."""
        clusterings.delete(self.store, name)

    def plot_clustering(self, name: str, path: str | os.PathLike, projection: str = "umap") -> dict:
        """Draw a stored run's map again: its documents still in the index, by their labels then."""
        return clusterings.redraw(self._reader(), self.settings.dimension, name, path, projection)

    # -- keywords and topics ----------------------------------------------------
    def _extractor(self) -> Extractor:
        return Extractor(self._reader(), self.settings, lambda: self.embedder)

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
        return self._extractor().keywords(doc_id, text, method, n, diversity, max_words, pool)

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
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[str, list[kw.Keyword]]]:
        """``(doc id, keywords)`` for the given documents (default: all, in the order added).

        The same ranking as :meth:`keywords`, faster over many documents: for ``embed``
        the candidate phrases of a group of documents are embedded together, each
        distinct phrase once.  ``on_progress(done, total)`` is called after each document.
        """
        if doc_ids is not None:
            doc_ids = _check_ids(doc_ids, "doc_ids")
        extractor = self._extractor()
        if not show_progress or on_progress is not None:
            yield from extractor.keywords_many(doc_ids, method, n, diversity, max_words, pool, on_progress)
            return
        from .progress import terminal_bar

        with terminal_bar("Keywords", "doc") as update:
            yield from extractor.keywords_many(doc_ids, method, n, diversity, max_words, pool,
                                               lambda done, total: update(done, total))

    def topics(
        self,
        method: str = "lda",
        n: int = 10,
        *,
        words: int = 10,
        max_words: int = 1,
        seed: int = 0,
        max_iter: int = 20,
    ) -> list[Topic]:
        """Topics of the whole corpus, largest first: top words, share of the corpus, documents.

        ``lda``: scikit-learn LatentDirichletAllocation with ``n`` topics over the
        documents' word counts (``max_words`` > 1 counts phrases too).  Each topic lists
        the documents it dominates (their largest topic), with the topic's share of each.
        """
        return self._extractor().topics(method, n, words, max_words, seed, max_iter)

    # -- about the index ----------------------------------------------------------
    def counts(self) -> dict:
        """``{"documents": N, "chunks": M}``."""
        with self._reading(vectors=False) as (store, _):
            return store.counts()

    def info(self) -> dict:
        """Counts, stored settings and sizes on disk."""
        with self._reading(vectors=False) as (store, _):
            current = store.settings()
            counts = store.counts()
        settings = {k: v for k, v in current.items()
                    if k not in ("generation", "faiss_generation", "faiss_checksum", "updated", "vector_index")}
        db_bytes = sum(p.stat().st_size for p in self.path.glob(DB_FILE + "*") if p.is_file())
        faiss_path = self.path / FAISS_FILE
        return {
            "path": str(self.path.resolve()),
            **counts,
            "settings": settings,
            "updated": current.get("updated"),
            "faiss_up_to_date": current["faiss_generation"] == current["generation"],
            # As of the last save of the vector file: type, nprobe, refine depth, measured recall.
            "vector_index": current.get("vector_index") or vector_policy.describe(
                None, current.get("vector_policy", "auto"), current.get("recall_target", vector_policy.DEFAULT_RECALL)),
            "size_bytes": {
                "database": db_bytes,
                "faiss": faiss_path.stat().st_size if faiss_path.exists() else 0,
            },
        }

