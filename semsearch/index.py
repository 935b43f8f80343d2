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
import sqlite3
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
from .docvectors import DEFAULT_DOCUMENT_VECTOR, check_document_vector
from .embedding import Embedder, check_query_backend, load_tokenizer
from .errors import IndexLocked, InvalidArgument, NotFound, ReadOnlyIndex, SettingsMismatch
from .extracting import TOPIC_METHODS, Extractor
from .ingest import AddReport, Encoder, Executor, LocalExecutor, Progress
from .integrity import remove_stale_temporaries, translated
from .locking import WriterLock, holder, is_locked
from .queries import Filters, normalise_filters
from .reading import Document, DocumentFile, Skipped
from .searching import (
    FUSION_DEPTH,
    MODES,
    ChunkMap,
    Hit,
    Ranked,
    dense_rank,
    explain_hits,
    fuse_hybrid,
    keyword_rank,
    to_hits,
)
from .settings import STATE_KEYS, IndexSettings
from .storing import Store
from .text import coverage
from .text.prefixes import check_prefixes, prefix_settings, with_prefix
from .topics import Topic
from .validation import (
    check_bool,
    check_id,
    check_ids,
    check_int,
    check_int_or_auto,
    check_k,
    check_metadata,
    check_optional,
    check_real_or_auto,
    check_sequence,
    check_text,
)
from .vectors import METRICS, VectorBackend
from .vectors import policy as vector_policy
from .vectors.sync import FAISS_FILE, VectorSync

log = logging.getLogger("semsearch")

DEFAULT_INDEX_DIR = ".semsearch"
INDEX_ENV_VAR = "SEMSEARCH_INDEX"
DB_FILE = "index.db"
LOCK_FILE = "write.lock"
# Counting at least this many documents' keyword terms (Index.count_terms) says so, with the time.
TERMS_NOTICE = 20_000

__all__ = ["FAISS_FILE", "TOPIC_METHODS", "AddReport", "Index", "default_index_path"]


def default_index_path() -> Path:
    """``$SEMSEARCH_INDEX``, else ``.semsearch`` in the current directory."""
    return Path(os.environ.get(INDEX_ENV_VAR) or DEFAULT_INDEX_DIR)


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


def _check_add(texts, ids, metadata, titles, batch_size) -> tuple:
    """The arguments of :meth:`Index.add`, checked (see :mod:`semsearch.validation`)."""
    texts = [check_text(t, f"texts[{i}]") for i, t in enumerate(check_sequence(texts, "texts"))]
    if ids is not None:
        ids = check_ids(check_sequence(ids, "ids", len(texts)))
    if metadata is not None:
        metadata = [check_metadata(m, f"metadata[{i}]")
                    for i, m in enumerate(check_sequence(metadata, "metadata", len(texts)))]
    if titles is not None:
        titles = [check_optional(t, check_text, f"titles[{i}]")
                  for i, t in enumerate(check_sequence(titles, "titles", len(texts)))]
    return texts, ids, metadata, titles, check_int(batch_size, "batch_size", minimum=1)


def _check_cluster(k, k_max, eps, min_samples, min_cluster_size, reduce, assign_noise, center, seed, save, vectors):
    """The types of :meth:`Index.cluster`'s arguments (their ranges are checked against the corpus)."""
    k = check_int_or_auto(k, "k")
    check_optional(k_max, check_int, "k_max"), check_optional(min_samples, check_int, "min_samples")
    check_optional(min_cluster_size, check_int, "min_cluster_size"), check_int(seed, "seed")
    check_optional(reduce, check_text, "reduce"), check_bool(assign_noise, "assign_noise")
    check_optional(center, check_bool, "center"), check_bool(save, "save")
    check_optional(vectors, check_text, "vectors")
    return k, check_real_or_auto(eps, "eps")


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
        self.device = "cpu"  # where the model runs: a choice of the run (Index.open), never stored
        self._lock = WriterLock(path / LOCK_FILE)
        # Whether the first tfidf use stores the keyword-term counts it needs (count_terms: takes the
        # writer lock).  The server's reading indexes leave that to its writer and count in memory.
        self.counts_terms_on_use = True
        self._sync = VectorSync(path, self.settings, store, self._lock)
        # Approximate backends hold codes only; their exact refine reads floats by id, through
        # this thread's connection (inside the search's snapshot).
        self._sync.fetch = lambda ids: self._reader().vectors_by_id(ids, self.settings.dimension)
        self._local = threading.local()
        self._readers: list[Store] = []
        self._state = threading.Lock()  # guards the caches below and the lazy embedder
        self._chunk_map_cache: tuple[int, ChunkMap] | None = None
        self._cluster_cache: dict = {}  # the last UMAP/PCA reduction and word vectors, for one generation

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
        device: str | None = None,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        document_vector: str | None = None,
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

        ``device``: where the model runs (``cpu``, ``auto``, ``cuda[:N]``, ``mps``); see
        :class:`Embedder`.  Not stored: an index built on a GPU is queried on any CPU.

        ``query_prefix`` / ``passage_prefix``: text put before every query / chunk before
        embedding (e5: ``"query: "`` / ``"passage: "``); default from the model's name
        (:func:`semsearch.text.prefixes.default_prefixes`), stored in the index.

        ``index_type`` (a new index; default ``auto``): ``exact`` always scans every vector;
        ``ivf`` / ``ivfpq`` are approximate (IVF over SQ8 / 4-bit PQ codes, refined exactly,
        with nprobe calibrated at every build to reach ``recall``, recall@10, default 0.95);
        ``auto`` is exact up to 500k chunks, then ``ivf``, then from 10M ``ivfpq``.  Stored once;
        change it with :meth:`reindex`.

        ``document_vector`` (``lead``, the default; ``mean``; ``first``): how one vector
        per document is made from its chunks, for clustering, ``similar`` and keyword
        ``embed`` (see :mod:`semsearch.docvectors`); stored like the other settings.
        """
        if document_vector is not None:
            check_document_vector(document_vector)
        policy = _check_index_type(index_type, recall)
        check_query_backend(query_backend)  # now: the embedder that would check it loads lazily
        path = Path(path) if path is not None else default_index_path()
        db_path = path / DB_FILE
        if not db_path.exists() and not create:
            if is_locked(path / LOCK_FILE):  # created atomically: no index.db until it is complete
                raise IndexLocked(f"the index at {path} is locked: process {holder(path / LOCK_FILE) or '?'} "
                                  f"is creating it; wait for it to finish and try again")
            raise NotFound(f"no index at {path}: create one with `semsearch index -i {path} FILES...`")
        if create and (not db_path.exists() or Store.is_blank(db_path)):
            if path.exists() and not path.is_dir():
                raise InvalidArgument(f"{path} exists and is not a directory")
            with translated(path):
                path.mkdir(parents=True, exist_ok=True)
            with WriterLock(path / LOCK_FILE):
                remove_stale_temporaries(path, all_of_them=True)
                # Checked again under the lock: another process may have created the index meanwhile,
                # and a blank file (no tables: an older semsearch's interrupted creation, or a plain
                # sqlite3 connection made before the index existed) holds nothing and is replaced.
                if db_path.exists() and Store.is_blank(db_path):
                    log.warning("%s has no tables (it holds nothing): making the index anew", db_path)
                    for leftover in path.glob(DB_FILE + "*"):
                        leftover.unlink()
                if not db_path.exists():
                    embedder = Embedder(model, layers=layers, pooling=pooling, precision=precision,
                                        query_backend=query_backend, device=device or "cpu")
                    store = Store.create(db_path, {
                        **cls._new_settings(embedder, chunk_size, chunk_overlap),
                        **prefix_settings(embedder, query_prefix, passage_prefix, chunk_size, chunk_overlap),
                        "document_vector": document_vector or DEFAULT_DOCUMENT_VECTOR, **policy})
                    created = cls(path, store, embedder, query_backend)
                    created.device = embedder.device
                    return created
        index = cls(path, Store.open(db_path), encoder, query_backend=query_backend)
        index.device = device or "cpu"
        index._check_index_type(index_type, recall)
        if not index.store.read_only:
            remove_stale_temporaries(path)  # of killed saves; a live writer's are left alone
        index.settings.check_requested(path, model=model, layers=layers, pooling=pooling, chunk_size=chunk_size,
                                       chunk_overlap=chunk_overlap, precision=precision,
                                       document_vector=document_vector)
        check_prefixes(index.settings, path, query_prefix, passage_prefix)
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
                    self._embedder = Embedder.from_settings(self.settings, query_backend=self.query_backend,
                                                            device=self.device)
        return self._embedder

    def _tokenizer(self):
        loaded = getattr(self._embedder, "tokenizer", None)
        return loaded if loaded is not None else load_tokenizer(self.settings.model)

    def _encode_queries(self, queries: list[str], batch_size: int):
        embedder = self.embedder
        if isinstance(embedder, Embedder):
            return embedder.encode_queries(with_prefix(self.settings.get("query_prefix", ""), queries),
                                           batch_size=batch_size)
        return embedder.encode(with_prefix(self.settings.get("query_prefix", ""), queries), batch_size=batch_size)

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
            store.analyzer, store.fts_table = self.store.analyzer, self.store.fts_table  # as open() settled them
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
        texts, ids, metadata, titles, batch_size = _check_add(texts, ids, metadata, titles, batch_size)
        n = len(texts)
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
        documents: Iterable[Document | Skipped | DocumentFile],
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
        batch_size = check_int(batch_size, "batch_size", minimum=1)
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

        def counted() -> Iterator[Document | Skipped | DocumentFile]:
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
        ids = list(dict.fromkeys(check_ids(ids)))
        with self._sync.writing() as backend:
            found = self.store.stored_documents(ids)
            if not found:
                return []
            with self._sync.rw.write():
                with self.store.transaction():
                    chunk_ids = self.store.delete_documents(pk for pk, _ in found.values())
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
        explain: bool = False,
    ) -> list[Hit]:
        """Rank documents for ``query``; see :meth:`search_many`."""
        if not isinstance(query, str):
            raise InvalidArgument(f"query must be text, not {type(query).__name__}")
        return self.search_many(
            [query], k, mode=mode, where=where, min_score=min_score, metric=metric, cluster=cluster, exact=exact,
            explain=explain,
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
        explain: bool = False,
    ) -> list[list[Hit]]:
        """Rank documents for each query (embedded together in one pass).

        ``mode``: ``dense`` (cosine over vectors), ``keyword`` (BM25) or ``hybrid``
        (reciprocal-rank fusion of both).  ``where`` filters on metadata (and ``id``,
        ``title``, ``source``) before ranking, and so does ``cluster`` (``"NAME:LABEL"``
        or ``(name, label)``: only the documents a stored clustering put in that
        cluster).  ``metric`` applies to the dense side.  An empty query has no hits.
        ``explain`` attaches to each hit its dense rank and score, keyword rank and BM25, and
        fused score (the other side is ranked too when the mode has one side only; the hits
        do not change).
        ``exact`` scans every stored vector even where the index is approximate.
        """
        if isinstance(queries, (str, bytes)) or not isinstance(queries, Sequence):
            raise InvalidArgument("search_many() takes a list of queries")
        queries = list(queries)
        queries = [check_text(q, "query") for q in queries]  # text SQLite and the tokenizer can take
        if mode not in MODES:
            raise InvalidArgument(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        k = check_k(k)
        if min_score is not None and (isinstance(min_score, bool) or not isinstance(min_score, (int, float))
                                      or not math.isfinite(min_score)):
            raise InvalidArgument(f"min_score must be a finite number, not {min_score!r}")
        filters = normalise_filters(where)
        depth = max(k, FUSION_DEPTH) if mode == "hybrid" else k
        side_depth = max(k, FUSION_DEPTH)  # a side ranked for ``explain`` only
        asked = [i for i, q in enumerate(queries) if q.strip()]
        query_vectors = None
        if (mode in ("dense", "hybrid") or explain) and asked:
            query_vectors = self._encode_queries([queries[i] for i in asked], batch_size)
            self._sync.log_queries(query_vectors)  # real queries, to calibrate an approximate index on
        results: list[list[Hit]] = [[] for _ in queries]
        with self._reading(vectors=query_vectors is not None) as (store, backend):
            filters = [*filters, *clusterings.cluster_filter(store, cluster)]
            dense: list[list[Ranked]] = [[] for _ in asked]
            if query_vectors is not None:
                dense = self._dense(store, backend, query_vectors, depth if mode != "keyword" else side_depth,
                                    filters, metric, exact=exact)
            for slot, i in enumerate(asked):
                keyword: list[Ranked] = []
                if mode != "dense" or explain:
                    keyword = keyword_rank(store, queries[i], depth if mode != "dense" else side_depth, filters)
                weights, readable = None, None  # hybrid: how far the model reads the query, each candidate
                if mode == "hybrid":
                    weights = self._fusion_weights(queries[i])
                    if weights[0] > 0:
                        readable = coverage.document_weights(
                            store.document_unknown_tokens([r.doc_id for r in dense[slot]]))
                if mode == "dense":
                    ranked = dense[slot]
                else:
                    ranked = keyword[:k] if mode == "keyword" else fuse_hybrid(
                        dense[slot], keyword, k, weights=weights, readable=readable)
                if min_score is not None:
                    ranked = [r for r in ranked if r.score >= min_score]
                results[i] = to_hits(store, ranked, queries[i])
                if explain:
                    explain_hits(results[i], dense[slot], keyword, metric, fused=mode == "hybrid",
                                 readable=readable)
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

        k = check_k(k)
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        try:
            query_vectors = unit_rows(vectors, self.settings.dimension)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        filters = normalise_filters(where)
        self._sync.log_queries(query_vectors)
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

    def vacuum(self) -> dict:
        """Rewrite the database so the space freed by deletes (and by the format 1 -> 2 migration,
        which happens on open) goes back to the file system, with format 2's page size; takes the
        writer lock.  Returns the format, page size, and database bytes and free pages before and after."""
        from .migrating import vacuum
        from .storing import PAGE_SIZE

        def size() -> int:
            return sum(p.stat().st_size for p in self.path.glob(DB_FILE + "*") if p.is_file())

        def free_pages() -> int:
            return self.store.conn.execute("PRAGMA freelist_count").fetchone()[0]

        with self._sync.writing():
            before, free_before = size(), free_pages()
            vacuum(self.store, PAGE_SIZE)
            try:  # a rewrite through the WAL: into the file now (after a page size change there is none)
                self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.OperationalError:
                pass  # (the next checkpoint does it)
            after = size()
            page_size = self.store.conn.execute("PRAGMA page_size").fetchone()[0]
            free_after = free_pages()
        return {"format_version": self.store.settings().get("format_version"), "page_size": page_size,
                "database_bytes_before": before, "database_bytes_after": after,
                "free_pages_before": free_before, "free_pages_after": free_after}

    def similar(
        self, doc_id: str, k: int = 10, *, where: Filters = None, metric: str = "cosine", cluster: ClusterRef = None,
        exact: bool = False,
    ) -> list[Hit]:
        """Documents most like a stored one (by its document vector, see ``semsearch.docvectors``), itself excluded.
        ``exact`` scans every stored vector even where the index is approximate."""
        doc_id, k = check_id(doc_id, "doc_id"), check_k(k)
        if metric not in METRICS:
            raise InvalidArgument(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        filters = normalise_filters(where)
        with self._reading() as (store, backend):
            found = store.find(doc_id)
            if found is None:
                raise NotFound(f"no document {doc_id!r} in the index")
            vector = store.document_vector(found[0], self.settings.dimension, self.settings.document_vector)
            filters = [*filters, *clusterings.cluster_filter(store, cluster)]
            return to_hits(store, self._dense(store, backend, vector[None, :], k, filters, metric,
                                              exclude=[doc_id], exact=exact)[0])

    def get(self, doc_id: str) -> dict | None:
        """A stored document: id, title, source, text, metadata, chunk count, timestamps, page starts."""
        doc_id = check_id(doc_id, "doc_id")
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
        vectors: str | None = None,
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
        anisotropic, mean pairwise cosine above 0.3, as an all-layer average is).  ``vectors``:
        what a document is clustered by: ``"hybrid"`` (K-means' default: its model vector and
        the TF-IDF vector of its words side by side, equally weighted; the model's share shrinks
        to nothing as the corpus' unknown-token share goes from 5% to 30%), ``"model"`` (the
        density methods' default) or ``"terms"``.  The run is
        stored under ``name`` (default: made from the method and its parameters;
        an existing run of that name is replaced) unless ``save=False``.  ``plot``
        writes a PNG map (2-D UMAP, or PCA with ``plot_projection="pca"``).
        """
        k, eps = _check_cluster(k, k_max, eps, min_samples, min_cluster_size, reduce, assign_noise, center, seed,
                                save, vectors)
        params = dict(k=k, k_max=k_max, eps=eps, min_samples=min_samples, min_cluster_size=min_cluster_size,
                      reduce=reduce, assign_noise=assign_noise, center=center, seed=seed, vectors=vectors)
        return clusterings.run(self.store, self.settings.dimension, method, params, name=name, save=save,
                               document_vector=self.settings.document_vector,
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
        return clusterings.redraw(self._reader(), self.settings.dimension, name, path, projection,
                                  document_vector=self.settings.document_vector)

    # -- keywords and topics ----------------------------------------------------
    def _extractor(self) -> Extractor:
        return Extractor(self._reader(), self.settings, lambda: self.embedder, self._count_terms_if_free)

    def count_terms(self, show_progress: bool = False, processes: int | None = None) -> int:
        """Count the keyword terms (``tfidf`` key phrases' document frequencies) of the documents
        added since they were last counted; returns how many documents were counted.

        The writer does not count them (they were 60% of its time): the first ``tfidf`` use
        does, through this, once; call it after a bulk load to have that done ahead.
        ``processes``: worker processes that count ahead of the writing one (default: one a
        core, up to 4; used from :data:`~semsearch.storing.TERMS_PARALLEL_PARTS` parts of
        :data:`~semsearch.storing.TERMS_PART` documents; 0: none).
        """
        if processes is None:
            processes = min(os.cpu_count() or 1, 4)
        store = self.store
        if store.read_only:
            raise ReadOnlyIndex(f"the index at {self.path} is read-only ({store.read_only}): "
                                f"its keyword statistics are counted in memory when needed")
        if not self._reader().terms_pending():  # nothing to count: no need for the writer lock
            return 0
        with self._lock:
            pending = store.terms_pending()
            if not pending:
                return 0
            started = time.perf_counter()
            if pending >= TERMS_NOTICE:
                log.warning("counting the keyword terms of %d documents added since the last count (once; "
                            "`semsearch keywords --method tfidf` needs them)", pending)
            if not show_progress:
                done = store.count_terms(processes=processes)
            else:
                from .progress import terminal_bar

                with terminal_bar("Counting terms", "doc") as update:
                    done = store.count_terms(update, processes)
            if pending >= TERMS_NOTICE:
                log.warning("counted the keyword terms of %d documents in %.1fs", done,
                            time.perf_counter() - started)
            return done

    def _count_terms_if_free(self, show_progress: bool = False) -> None:
        """:meth:`count_terms` when this process can write now; otherwise (read-only, or another
        writer at work) the documents not counted yet are counted in memory by the reader."""
        if not self.counts_terms_on_use or self.store.read_only or self._lock.held or is_locked(self._lock.path):
            return
        try:
            self.count_terms(show_progress)
        except (IndexLocked, ReadOnlyIndex) as exc:  # taken meanwhile: counted in memory instead
            log.info("keyword terms not stored (%s): counted in memory", exc)

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
        doc_id, text = check_optional(doc_id, check_id, "doc_id"), check_optional(text, check_text, "text")
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
            doc_ids = check_ids(doc_ids, "doc_ids")
        extractor = self._extractor()
        if method == "tfidf" and show_progress:  # with its own progress bar, ahead of the keywords'
            self._count_terms_if_free(show_progress=True)
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

    def _fusion_weights(self, query: str) -> tuple[float, float]:
        """``(dense, keyword)`` weights of a hybrid query: less dense the less of it the model can read."""
        tokenizer = getattr(self, "_fusion_tokenizer", None)
        if tokenizer is None:
            try:
                tokenizer = self._fusion_tokenizer = self._tokenizer()
            except Exception:  # an outside encoder without a loadable tokenizer: fuse as equals
                return 1.0, 1.0
        return coverage.fusion_weights(coverage.unknown_share(tokenizer, query))

    def text_info(self) -> dict:
        """The corpus' languages and the share of its tokens the model cannot read (with advice if high)."""
        with self._reading(vectors=False) as (store, _):
            languages = store.language_mix()
            unknown, tokens = store.unknown_tokens()
        share = unknown / tokens if tokens else None
        return {"languages": languages, "unknown_token_share": None if share is None else round(share, 4),
                "warning": coverage.remedy(share) if share is not None and share >= coverage.WARN_SHARE else None}

    def info(self) -> dict:
        """Counts, stored settings and sizes on disk."""
        text = self.text_info()
        with self._reading(vectors=False) as (store, _):
            current = store.settings()
            counts = store.counts()
            terms_pending = store.terms_pending()
        settings = {k: v for k, v in current.items() if k not in STATE_KEYS or k == "migrated"}
        db_bytes = sum(p.stat().st_size for p in self.path.glob(DB_FILE + "*") if p.is_file())
        faiss_path = self.path / FAISS_FILE
        return {
            "path": str(self.path.resolve()),
            **counts,
            **text,
            "settings": settings,
            "updated": current.get("updated"),
            "faiss_up_to_date": current["faiss_generation"] == current["generation"],
            # Documents whose keyword terms (tfidf's document frequencies) are not counted yet: the first
            # tfidf use, or Index.count_terms, counts them.
            "keyword_terms_pending": terms_pending,
            # As of the last save of the vector file: type, nprobe, refine depth, measured recall.
            "vector_index": current.get("vector_index") or vector_policy.describe(
                None, current.get("vector_policy", "auto"), current.get("recall_target", vector_policy.DEFAULT_RECALL)),
            "size_bytes": {
                "database": db_bytes,
                "faiss": faiss_path.stat().st_size if faiss_path.exists() else 0,
            },
        }

