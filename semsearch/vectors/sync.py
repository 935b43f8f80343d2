"""Keeping the vector file in step with SQLite, the source of truth.

The protocol:

- every write transaction bumps the database's ``generation``;
- the vector file is saved atomically after a write and records, in the settings
  table, the generation it was saved at (``faiss_generation``);
- on use, a file that is missing, unreadable, of another type, behind the database,
  or holding another number of vectors is rebuilt from the stored vectors (with a
  warning), and the repair is saved unless another process is writing;
- within one process, a :class:`~semsearch.locking.ReadWriteLock` makes searches see
  the database and the in-memory vectors at the same generation: a write commits and
  updates the vectors while holding it exclusively.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ReadOnlyIndex, SemsearchError
from ..integrity import file_checksum, translated
from ..locking import ReadWriteLock, WriterLock, is_locked
from ..settings import IndexSettings
from ..storing import Store
from . import backend_class
from . import policy as vector_policy
from .base import VectorBackend
from .querylog import QUERY_LOG_FILE, QueryLog

log = logging.getLogger("semsearch")

FAISS_FILE = "vectors.faiss"


class VectorSync:
    """The vectors of one index, for every thread of one :class:`~semsearch.Index`."""

    def __init__(self, directory: Path, settings: IndexSettings, store: Store, lock: WriterLock) -> None:
        self.path = directory / FAISS_FILE
        self.dimension = settings.dimension
        self.backend_class = backend_class(settings.index_type)
        self.store = store  # the writing connection: saves record their generation through it
        self.lock = lock
        self.rw = ReadWriteLock()
        self.backend: VectorBackend | None = None
        self.generation = -1
        # Approximate backends: the type asked for, the recall target, and a reader of float
        # vectors by id for their exact refine (set by the Index: this thread's connection).
        self.policy = str(settings.extra.get("vector_policy", "exact" if settings.index_type == "flat" else
                                             settings.index_type))
        self.recall = float(settings.extra.get("recall_target", vector_policy.DEFAULT_RECALL))
        self.fetch = None
        self.query_log = QueryLog(directory / QUERY_LOG_FILE, self.dimension)

    def log_queries(self, vectors) -> None:
        """Keep the query vectors of a dense search for calibration: not on a read-only index,
        nor under the ``exact`` policy, which never calibrates (nothing kept that is not used)."""
        if not self.store.read_only and self.policy != "exact":
            self.query_log.append(vectors)

    def current(self, store: Store) -> VectorBackend:
        """The vectors at the generation ``store`` sees now: kept, reloaded, or rebuilt.

        Call it outside a read snapshot of ``store``, with :attr:`rw` held for writing
        (or from the only thread).
        """
        generation = store.generation()
        if self.backend is not None and self.generation == generation:
            return self.backend
        kind = store.settings().get("index_type", "flat")  # another process may have switched it
        if kind != self.backend_class.kind:
            self.backend_class = backend_class(kind)
        problem = None
        chunks = store.counts()["chunks"]
        stored = dict(store.conn.execute(
            "SELECT key, value FROM settings WHERE key IN ('faiss_generation', 'faiss_checksum')"
        ).fetchall())
        saved = json.loads(stored["faiss_generation"])
        checksum = json.loads(stored["faiss_checksum"]) if "faiss_checksum" in stored else None
        if not self.path.exists():
            problem = "the FAISS file is missing" if chunks else None
        elif saved != generation:
            problem = "the FAISS file is behind the database"
        elif checksum is not None and file_checksum(self.path) != checksum:
            # Damaged bytes can still load: scores of 1e37, wrong documents, a lost top hit.
            problem = "the FAISS file does not match its checksum (its content is damaged)"
        else:
            try:
                loaded = vector_policy.attach(self.backend_class.load(self.path, self.dimension), self.fetch,
                                              self.query_log)
            except ValueError as exc:
                problem = f"the FAISS file is corrupt ({exc})"
            else:
                if loaded.size == chunks:
                    self.backend, self.generation = loaded, generation
                    return loaded
                problem = f"the FAISS file holds {loaded.size} vectors, the database {chunks}"
        self.backend, self.generation = self._rebuild(store, problem)
        return self.backend

    def _rebuild(self, store: Store, problem: str | None) -> tuple[VectorBackend, int]:
        started = time.perf_counter()
        with store.snapshot():  # one consistent state while a writer may be committing
            generation = store.generation()
            backend = self.build(store, self.backend_class)
        if problem:
            log.warning(
                "%s: rebuilt it from %d stored vectors in %.1fs", problem, backend.size, time.perf_counter() - started
            )
        # Persist the repair unless another process is writing (it will save its own).
        if self.lock.held:
            self.save(backend, generation)
        elif not is_locked(self.lock.path):
            try:
                with self.lock:
                    if self.store.generation() == generation:
                        self.save(backend, generation)
            except (SemsearchError, OSError):
                pass  # read-only or taken meanwhile: the repair stays in memory
        return backend, generation

    def build(self, store: Store, cls: type[VectorBackend]) -> VectorBackend:
        """A backend of type ``cls`` from every stored vector (call inside a snapshot of ``store``)."""
        params = vector_policy.build_params(cls, store, self.dimension, self.recall, self.fetch, self.query_log)
        return vector_policy.attach(cls.build(self.dimension, vector_policy.StoredVectors(store, self.dimension),
                                              **params), self.fetch, self.query_log)

    def upkeep(self, backend: VectorBackend) -> bool:
        """After writes: switch to the backend type the policy wants at this size, or re-calibrate /
        retrain an approximate one when due.  Returns whether the backend changed."""
        wanted = vector_policy.needed_kind(self.policy, backend) if self.policy == "auto" else None
        if wanted is not None:
            started = time.perf_counter()
            with self.rw.write(), self.store.snapshot():
                rebuilt = self.build(self.store, backend_class(wanted))
            log.warning("the index reached %d chunks: switched its vectors from %s to %s in %.1fs",
                        rebuilt.size, backend.kind, wanted, time.perf_counter() - started)
            self.use(rebuilt)
            return True
        with self.rw.write():
            return vector_policy.maintain(backend, self.store, self.dimension) is not None

    def use(self, backend: VectorBackend) -> None:
        """Make ``backend`` (of any type) the index's, recorded in the settings."""
        with self.rw.write():
            self.backend, self.backend_class = backend, type(backend)
            with self.store.transaction(bump=False):
                self.store.set_setting("index_type", backend.kind)

    def save(self, backend: VectorBackend, generation: int) -> None:
        with translated(self.path):  # a full disk says so
            backend.save(self.path)
            checksum = file_checksum(self.path)  # of the bytes on disk; compared on every load
        with self.store.transaction(bump=False):
            self.store.set_setting("faiss_generation", generation)
            self.store.set_setting("faiss_checksum", checksum)
            self.store.set_setting("vector_index", vector_policy.describe(backend, self.policy, self.recall))

    @contextmanager
    def writing(self) -> Iterator[VectorBackend]:
        """Hold the writer lock; save the vector file once at the end, whatever happens."""
        if self.lock.held:
            raise SemsearchError("this index is already being written by this process")
        if self.store.read_only:
            raise ReadOnlyIndex(f"the index at {self.path.parent} is read-only ({self.store.read_only}): "
                                f"it can be searched, not changed")
        with self.lock:
            if self.lock.stale_pid:
                log.warning("took over a stale lock left by process %d", self.lock.stale_pid)
            self.store.verify()  # never write into a database that fails its check
            with self.rw.write():
                backend = self.current(self.store)
            start_generation = self.generation
            try:
                yield backend
            except BaseException:
                if self.generation != start_generation:
                    try:  # keep the work (upkeep can wait); a failure here must not hide the one in flight
                        self.save(self.backend, self.generation)
                    except Exception as exc:
                        log.warning("could not save the FAISS file (%s); it is rebuilt from the database "
                                    "on the next open", exc)
                raise
            if self.generation != start_generation:
                try:
                    if self.upkeep(self.backend):
                        log.info("vector index: %s", vector_policy.describe(self.backend, self.policy, self.recall))
                finally:
                    self.save(self.backend, self.generation)

    def committed(self, generation: int) -> None:
        """Record that the in-memory vectors now match ``generation`` (call with :attr:`rw` held)."""
        self.generation = generation
